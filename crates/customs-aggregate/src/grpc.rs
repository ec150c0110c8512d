//! `customs.v1.StatsService` over tonic, with health and reflection.
//!
//! Health says SERVING for the stats service while the server runs and
//! NOT_SERVING once shutdown begins. Internal errors never reach clients.

use customs_domain::{Direction, TradeCategory};
use customs_proto::v1;
use customs_proto::v1::stats_service_server::{StatsService, StatsServiceServer};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::Error;
use std::sync::Arc;

use customs_domain::model::format_amount;
use customs_domain::stats::{Dimension, Misaligned, Query, Window};

use crate::state::Shared;

/// The stats service over the shared state.
pub struct Stats {
    state: Arc<Shared>,
}

#[tonic::async_trait]
impl StatsService for Stats {
    async fn get_totals(
        &self,
        request: Request<v1::GetTotalsRequest>,
    ) -> Result<Response<v1::GetTotalsResponse>, Status> {
        let request = request.into_inner();
        let category: Option<TradeCategory> = optional_filter(
            request.category(),
            v1::TradeCategory::Unspecified,
            "category",
        )?;
        let direction: Option<Direction> =
            optional_filter(request.direction(), v1::Direction::Unspecified, "direction")?;
        let response = totals(&self.state, category, direction)
            .map_err(|err| Status::internal(err.to_string()))?;
        metrics::counter!("customs_aggregate_grpc_requests_total", "method" => "GetTotals", "code" => "ok").increment(1);
        Ok(Response::new(response))
    }
}

/// An unset proto enum means "no filter"; a set one must convert.
fn optional_filter<P, D>(value: P, unset: P, field: &str) -> Result<Option<D>, Status>
where
    P: PartialEq,
    D: TryFrom<P>,
{
    if value == unset {
        return Ok(None);
    }
    D::try_from(value)
        .map(Some)
        .map_err(|_| Status::invalid_argument(format!("{field}: unknown value")))
}

/// Serves stats, health and reflection on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    state: Arc<Shared>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_not_serving::<StatsServiceServer<Stats>>().await;
    {
        // Serving once the view has restored the changelog.
        let health = health.clone();
        let state = Arc::clone(&state);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                if state.progress().restoring().is_empty() {
                    health.set_serving::<StatsServiceServer<Stats>>().await;
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(customs_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(Error::Reflection)?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(customs_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(Error::Reflection)?;
    let stop = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            health.set_not_serving::<StatsServiceServer<Stats>>().await;
        }
    };
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(StatsServiceServer::new(Stats { state }))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop)
        .await
        .map_err(Error::Serve)
}

/// Money as the API carries it: an exact decimal string and its currency.
fn money(amount: rust_decimal::Decimal, currency: &str) -> v1::Money {
    v1::Money {
        amount: format_amount(amount),
        currency: currency.to_owned(),
    }
}

/// Freshness of an answer computed now from `state`.
pub(crate) fn freshness(state: &Shared, watermark: Option<i64>, version: u64) -> v1::Freshness {
    let progress = state.progress();
    let now_s = customs_kafka::stage::now_ms() / 1000;
    v1::Freshness {
        watermark: watermark
            .map(customs_domain::stats::time::format_minute)
            .unwrap_or_default(),
        version,
        restoring_partitions: progress.restoring(),
        changelog_offsets: progress.positions.clone().into_iter().collect(),
        watermark_lag_seconds: watermark.map(|w| now_s - w * 60).unwrap_or_default(),
    }
}

/// All-time totals per (category, direction), with declared value per currency.
fn totals(
    state: &Shared,
    category: Option<TradeCategory>,
    direction: Option<Direction>,
) -> Result<v1::GetTotalsResponse, Misaligned> {
    let (rows, by_currency, watermark, version, records) = {
        let view = state.read();
        let (version, records) = {
            let progress = state.progress();
            (progress.version, progress.records_committed)
        };
        let range = Window::AllTime.resolve(None).unwrap_or_default();
        let query = |group_by: Vec<Dimension>| Query {
            range,
            group_by,
            filters: Vec::new(),
        };
        let rows = customs_domain::stats::query::run(
            view.panes(),
            &query(vec![Dimension::Category, Dimension::Direction]),
            &state.tables,
        )?;
        let by_currency = customs_domain::stats::query::run(
            view.panes(),
            &query(vec![
                Dimension::Category,
                Dimension::Direction,
                Dimension::Currency,
            ]),
            &state.tables,
        )?;
        (
            rows,
            by_currency,
            view.watermarks().global(),
            version,
            records,
        )
    };
    let rows: Vec<v1::TotalsRow> = rows
        .into_iter()
        .filter_map(|(group, measures)| {
            let row_category = TradeCategory::from_name(&group[0])?;
            let row_direction = Direction::from_name(&group[1])?;
            if category.is_some_and(|c| c != row_category)
                || direction.is_some_and(|d| d != row_direction)
            {
                return None;
            }
            let declared_value = by_currency
                .iter()
                .filter(|(key, _)| key[0] == group[0] && key[1] == group[1])
                .map(|(key, m)| money(m.declared, &key[2]))
                .collect();
            Some(v1::TotalsRow {
                category: v1::TradeCategory::from(row_category).into(),
                direction: v1::Direction::from(row_direction).into(),
                num_declarations: measures.declarations.max(0) as u64,
                num_items: measures.items.max(0) as u64,
                declared_value,
                value_cny: Some(money(measures.value_cny, "CNY")),
                value_usd: Some(money(measures.value_usd, "USD")),
            })
        })
        .collect();
    Ok(v1::GetTotalsResponse {
        num_declarations: rows.iter().map(|row| row.num_declarations).sum(),
        rows,
        num_records_read: records,
        freshness: Some(freshness(state, watermark, version)),
    })
}

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
use crate::state::{SharedState, lock};

/// The stats service over the shared state.
pub struct Stats {
    state: SharedState,
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
        let response = {
            let guard = lock(&self.state);
            let rows = guard
                .totals
                .rows()
                .filter(|(c, d, _)| {
                    category.is_none_or(|want| want == *c)
                        && direction.is_none_or(|want| want == *d)
                })
                .map(|(category, direction, row)| v1::TotalsRow {
                    category: v1::TradeCategory::from(category).into(),
                    direction: v1::Direction::from(direction).into(),
                    num_declarations: row.num_declarations,
                    num_items: row.num_items,
                    declared_value: row
                        .declared_value
                        .iter()
                        .map(|(currency, amount)| v1::Money {
                            amount: customs_domain::model::format_amount(*amount),
                            currency: currency.clone(),
                        })
                        .collect(),
                    value_cny: Some(v1::Money {
                        amount: customs_domain::model::format_amount(row.value_cny),
                        currency: "CNY".to_owned(),
                    }),
                    value_usd: Some(v1::Money {
                        amount: customs_domain::model::format_amount(row.value_usd),
                        currency: "USD".to_owned(),
                    }),
                })
                .collect::<Vec<_>>();
            v1::GetTotalsResponse {
                num_declarations: rows.iter().map(|row| row.num_declarations).sum(),
                rows,
                num_records_read: guard.num_records_read,
            }
        };
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
    state: SharedState,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<StatsServiceServer<Stats>>().await;
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

//! The statistics API through a real gRPC client over TCP, on a real broker:
//! a generated feed goes through all three services, and every measure the
//! API serves — for each window type and several group-bys, top-N and
//! shares — equals an independent batch recount of the sent messages
//! (`api/recount.rs`). Also: `Explain` for a counted, a withdrawn and a
//! superseded declaration, a subscription that sees an update after new
//! events, field-level validation errors, and the latency of a typical query
//! and of a subscription update (printed).

#[path = "api/live.rs"]
mod live;
#[path = "api/recount.rs"]
mod recount;
#[path = "api/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use customs_domain::CodeTables;
use customs_domain::generator::{Generator, GeneratorConfig};
use customs_domain::stats::time::{DAY, HOUR, Minute, format_minute, parse_minute};
use customs_e2e::feed::{generate, produce};
use customs_e2e::{Pipeline, broker, raw_producer, served_table};
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use recount::{Counted, ItemFact, Recount, recount};
use rust_decimal::Decimal;
use support::*;
use tonic::transport::Channel;

const NUM_MESSAGES: usize = 3_000;
const TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) type Client = StatsServiceClient<Channel>;
type Dim = v1::Dimension;
/// How the recount groups an item.
type GroupOf<'a> = Box<dyn Fn(&Counted, &ItemFact) -> Vec<String> + 'a>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_statistics_api_serves_exact_figures_live() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let pipeline = Pipeline::start(&bootstrap, "api").await?;
    let tables = CodeTables::embedded();
    let config = GeneratorConfig {
        seed: 2027,
        withdrawal_rate: 0.02,
        late_rate: 0.05,
        summary_rate: 0.3,
        ..GeneratorConfig::default()
    };
    let mut generator = Generator::new(config, &tables);
    let messages = generate(&mut generator, NUM_MESSAGES);
    let producer = raw_producer(&bootstrap)?;
    produce(&producer, &pipeline.topics.raw, &messages).await?;
    let summary = generator.summary();
    let recount = recount(&messages, &tables);
    let all_time = recount.expected((Minute::MIN, Minute::MAX), by_category_direction);
    ensure!(
        as_summary(&all_time) == summary.counted,
        "the recount must agree with the generator's summary"
    );

    let mut client = Client::connect(format!("http://{}", pipeline.grpc_addr)).await?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let totals = client.get_totals(v1::GetTotalsRequest::default()).await?;
        let served = served_table(totals.get_ref())?;
        if served == summary.counted {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "totals never matched the summary: served {served:#?}, expected {:#?}",
            summary.counted
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    calendar_windows(&mut client, &recount).await?;
    rolling_windows(&mut client, &recount).await?;
    group_bys_top_n_and_shares(&mut client, &recount).await?;
    indicators(&mut client, &recount).await?;
    explain(&mut client, &recount).await?;
    validation(&mut client).await?;
    live::subscription(&mut client, &producer, &pipeline.topics.raw, &tables).await?;
    pipeline.stop().await
}

async fn calendar_windows(client: &mut Client, recount: &Recount) -> anyhow::Result<()> {
    use v1::window::Kind;
    let at = |text: &str| parse_minute(text).expect("time");
    let mut busiest_day: BTreeMap<Minute, usize> = BTreeMap::new();
    for counted in recount.counted.values() {
        *busiest_day
            .entry(customs_domain::stats::time::day_start(counted.minute))
            .or_default() += 1;
    }
    let (day, _) = busiest_day
        .iter()
        .max_by_key(|(_, n)| **n)
        .context("no data")?;
    let cases = [
        (
            "all time",
            window(Kind::AllTime(v1::AllTime {})),
            (Minute::MIN, Minute::MAX),
        ),
        (
            "month 2026-11",
            window(Kind::Month("2026-11".into())),
            (at("2026-11-01T00:00"), at("2026-12-01T00:00")),
        ),
        (
            "month 2026-10",
            window(Kind::Month("2026-10".into())),
            (at("2026-10-01T00:00"), at("2026-11-01T00:00")),
        ),
        (
            "year to date",
            window(Kind::YearToDate(v1::YearToDate {})),
            (at("2026-01-01T00:00"), Minute::MAX),
        ),
        (
            "busiest day",
            window(Kind::Day(format_minute(*day)[..10].to_owned())),
            (*day, day + DAY),
        ),
        (
            "explicit range",
            range(at("2026-10-20T00:00"), at("2026-11-10T00:00")),
            (at("2026-10-20T00:00"), at("2026-11-10T00:00")),
        ),
    ];
    for (name, window, bounds) in cases {
        let response = client
            .query(request(window, &[Dim::Category, Dim::Direction]))
            .await?
            .into_inner();
        let expected = recount.expected(bounds, by_category_direction);
        ensure!(!expected.is_empty(), "{name}: the recount has no data");
        assert_eq!(served(&response), expected, "{name}");
        assert_eq!(
            expected_of(&response.total),
            sum(&expected),
            "{name}: total"
        );
        assert!(response.freshness.is_some(), "{name}: freshness");
        eprintln!(
            "api: {name} [{}, {}): {} rows exact",
            response.from,
            response.to,
            response.rows.len()
        );
    }
    // Year to date is reported with the range it served.
    let ytd = client
        .query(request(window(Kind::YearToDate(v1::YearToDate {})), &[]))
        .await?
        .into_inner();
    assert_eq!(ytd.from, "2026-01-01T00:00:00+08:00");
    Ok(())
}

async fn rolling_windows(client: &mut Client, recount: &Recount) -> anyhow::Result<()> {
    use v1::RollingSpan as S;
    for (span, minutes) in [
        (S::LastHour, HOUR),
        (S::Last24Hours, 24 * HOUR),
        (S::Last7Days, 7 * DAY),
        (S::Last30Days, 30 * DAY),
    ] {
        let rolling = client
            .query(request(
                window(v1::window::Kind::Last(span as i32)),
                &[Dim::Category, Dim::Direction],
            ))
            .await?
            .into_inner();
        let (from, to) = served_range(&rolling)?;
        assert_eq!(to - from, minutes, "{span:?} spans its length");
        let watermark = parse_minute(&rolling.freshness.clone().unwrap_or_default().watermark)
            .context("watermark")?;
        if minutes > 2 * HOUR {
            assert_eq!(
                to,
                watermark.div_euclid(HOUR) * HOUR + HOUR,
                "{span:?} ends with the watermark's hour"
            );
        } else {
            assert_eq!(
                to,
                watermark + 1,
                "{span:?} ends with the watermark's minute"
            );
        }
        // Independent: the recount over the range the window reports.
        assert_eq!(
            served(&rolling),
            recount.expected((from, to), by_category_direction),
            "{span:?}"
        );
        // Consistent: the same range asked for explicitly.
        let explicit = client
            .query(request(range(from, to), &[Dim::Category, Dim::Direction]))
            .await?
            .into_inner();
        assert_eq!(explicit.rows, rolling.rows, "{span:?} = its explicit range");
        eprintln!(
            "api: {span:?} [{}, {}): {} rows exact",
            rolling.from,
            rolling.to,
            rolling.rows.len()
        );
    }
    Ok(())
}

async fn group_bys_top_n_and_shares(client: &mut Client, recount: &Recount) -> anyhow::Result<()> {
    let all = || window(v1::window::Kind::AllTime(v1::AllTime {}));
    let tables = CodeTables::embedded();
    let region = |province: &str| {
        tables
            .province(province)
            .map(|p| p.region.as_str().to_owned())
            .unwrap_or_default()
    };
    let cases: [(Dim, GroupOf<'_>); 5] = [
        (
            Dim::PartnerCountry,
            Box::new(|_, item| vec![item.partner.clone()]),
        ),
        (
            Dim::HsChapter,
            Box::new(|_, item| vec![item.chapter.clone()]),
        ),
        (
            Dim::Province,
            Box::new(|_, item| vec![item.province.clone()]),
        ),
        (
            Dim::Region,
            Box::new(move |_, item| vec![region(&item.province)]),
        ),
        (
            Dim::Currency,
            Box::new(|_, item| vec![item.currency.clone()]),
        ),
    ];
    for (dimension, group) in cases {
        let response = client
            .query(request(all(), &[dimension]))
            .await?
            .into_inner();
        let expected = recount.expected((Minute::MIN, Minute::MAX), group);
        assert_eq!(served(&response), expected, "{dimension:?}");
        // Values add up to the total; shares to 100 % within rounding.
        let total = expected_of(&response.total);
        assert_eq!(sum(&expected).cny, total.cny, "{dimension:?}");
        let shares: Decimal = response
            .rows
            .iter()
            .map(|row| row.share_percent.parse::<Decimal>().expect("share"))
            .sum();
        let tolerance = Decimal::new(5, 5) * Decimal::from(response.rows.len());
        assert!(
            (shares - Decimal::ONE_HUNDRED).abs() <= tolerance,
            "{dimension:?}: shares sum to {shares}"
        );
        eprintln!(
            "api: by {dimension:?}: {} groups exact, shares sum to {shares}",
            response.rows.len()
        );
    }
    // Top 10 partners by value: the recount's ten largest, with exact shares.
    let top = client
        .query(v1::QueryRequest {
            order_by: v1::Measure::ValueCny as i32,
            descending: true,
            limit: 10,
            ..request(all(), &[Dim::PartnerCountry])
        })
        .await?
        .into_inner();
    let expected = recount.expected((Minute::MIN, Minute::MAX), |_, item| {
        vec![item.partner.clone()]
    });
    let total_cny = sum(&expected).cny;
    let mut largest: Vec<_> = expected.into_iter().collect();
    largest.sort_by_key(|(_, e)| std::cmp::Reverse(e.cny));
    assert!(largest.len() > 10, "more than ten partners");
    assert!(top.truncated);
    assert_eq!(top.num_groups as usize, largest.len());
    assert_eq!(top.rows.len(), 10);
    for (row, (group, expected)) in top.rows.iter().zip(&largest) {
        assert_eq!(&row.group, group);
        assert_eq!(expected_of(&row.measures), *expected);
        let share = (expected.cny * Decimal::ONE_HUNDRED / total_cny)
            .round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointNearestEven);
        assert_eq!(row.share_percent.parse::<Decimal>()?, share);
    }
    // Country groups overlap, and a declaration's items can come from
    // several partners of one group: each counts once per group.
    let country_groups = |item: &ItemFact| -> Vec<String> {
        let groups = tables
            .country(&item.partner)
            .map(|alpha3| tables.country_groups(alpha3))
            .unwrap_or(&[]);
        if groups.is_empty() {
            vec![String::new()]
        } else {
            groups.to_vec()
        }
    };
    let groups = client
        .query(request(all(), &[Dim::CountryGroup]))
        .await?
        .into_inner();
    let expected = recount.expected_in((Minute::MIN, Minute::MAX), |_, item| {
        country_groups(item).into_iter().map(|g| vec![g]).collect()
    });
    assert_eq!(served(&groups), expected, "by country group");
    assert!(
        sum(&expected).cny > expected_of(&groups.total).cny,
        "groups overlap"
    );
    let spanning = recount
        .counted
        .values()
        .filter(|c| {
            let partners: BTreeSet<_> = c.items.iter().map(|i| &i.partner).collect();
            partners.len() > 1
                && c.items
                    .iter()
                    .filter(|i| country_groups(i).contains(&"rcep".to_owned()))
                    .map(|i| &i.partner)
                    .collect::<BTreeSet<_>>()
                    .len()
                    > 1
        })
        .count();
    eprintln!(
        "api: by country group: {} groups exact; {spanning} declarations have items from two RCEP partners",
        groups.rows.len()
    );
    // Item-level filters with several values, grouped by another item-level
    // dimension: RCEP or EU partners, by HS chapter, eastern provinces only.
    let filtered = client
        .query(v1::QueryRequest {
            filters: vec![
                v1::Filter {
                    dimension: Dim::CountryGroup as i32,
                    values: vec!["rcep".into(), "eu".into()],
                },
                v1::Filter {
                    dimension: Dim::Region as i32,
                    values: vec!["eastern".into()],
                },
            ],
            ..request(all(), &[Dim::HsChapter])
        })
        .await?
        .into_inner();
    let selected = |item: &ItemFact| {
        let groups = country_groups(item);
        (groups.contains(&"rcep".to_owned()) || groups.contains(&"eu".to_owned()))
            && region(&item.province) == "eastern"
    };
    let expected = recount.expected_in((Minute::MIN, Minute::MAX), |_, item| {
        if selected(item) {
            vec![vec![item.chapter.clone()]]
        } else {
            Vec::new()
        }
    });
    ensure!(!expected.is_empty(), "the filter selects something");
    assert_eq!(
        served(&filtered),
        expected,
        "filtered by country group and region"
    );
    let total = recount.expected_in((Minute::MIN, Minute::MAX), |_, item| {
        if selected(item) {
            vec![Vec::new()]
        } else {
            Vec::new()
        }
    });
    assert_eq!(
        expected_of(&filtered.total),
        total[&Vec::new()],
        "filtered total"
    );
    eprintln!(
        "api: rcep+eu, eastern, by chapter: {} groups exact, {} declarations in all",
        filtered.rows.len(),
        total[&Vec::new()].num_declarations
    );
    // A filter: cross-border e-commerce exports only.
    let filtered = client
        .query(v1::QueryRequest {
            filters: vec![
                v1::Filter {
                    dimension: Dim::Category as i32,
                    values: vec!["cross_border_ecommerce".into()],
                },
                v1::Filter {
                    dimension: Dim::Direction as i32,
                    values: vec!["export".into()],
                },
            ],
            ..request(all(), &[])
        })
        .await?
        .into_inner();
    let expected = recount.expected((Minute::MIN, Minute::MAX), by_category_direction);
    let key = vec!["cross_border_ecommerce".to_owned(), "export".to_owned()];
    assert_eq!(expected_of(&filtered.total), expected[&key]);
    Ok(())
}

async fn indicators(client: &mut Client, recount: &Recount) -> anyhow::Result<()> {
    let response = client
        .get_indicators(v1::IndicatorsRequest {
            window: window(v1::window::Kind::Month("2026-11".into())),
            top_n: 5,
        })
        .await?
        .into_inner();
    let current = response.current.context("current period")?;
    let at = |text: &str| parse_minute(text).expect("time");
    let bounds = (at("2026-11-01T00:00"), at("2026-12-01T00:00"));
    let by_direction = recount.expected(bounds, |c, _| vec![c.direction.clone()]);
    let exports = by_direction[&vec!["export".to_owned()]].cny;
    let imports = by_direction[&vec!["import".to_owned()]].cny;
    assert_eq!(decimal(&current.export_cny), exports);
    assert_eq!(decimal(&current.import_cny), imports);
    assert_eq!(decimal(&current.balance_cny), exports - imports);
    assert_eq!(decimal(&current.total_cny), exports + imports);
    let by_category = recount.expected(bounds, |c, _| vec![c.category.clone()]);
    for share in &current.categories {
        let expected = by_category
            .get(&vec![share.key.clone()])
            .map(|e| e.cny)
            .unwrap_or_default();
        assert_eq!(decimal(&share.value_cny), expected, "{}", share.key);
    }
    assert_eq!(current.top_partners.len(), 5);
    assert!(
        !response.year_earlier_available,
        "the feed holds no 2025 data"
    );
    assert!(!response.year_earlier_note.is_empty());
    eprintln!(
        "api: indicators 2026-11: e-commerce share {}%, balance {} CNY",
        current
            .categories
            .iter()
            .find(|s| s.key == "cross_border_ecommerce")
            .map(|s| s.share_percent_cny.clone())
            .unwrap_or_default(),
        decimal(&current.balance_cny)
    );
    Ok(())
}

async fn explain(client: &mut Client, recount: &Recount) -> anyhow::Result<()> {
    let counted = recount
        .counted
        .values()
        .find(|c| c.is_dec_message)
        .context("a counted declaration")?;
    let answer = client
        .explain(v1::ExplainRequest {
            id: counted.key.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(answer.status, "counted");
    assert!(!answer.explanation.is_empty());
    // Times carry their offset, like every other time in the API.
    for time in [&answer.first_event_at, &answer.last_event_at] {
        ensure!(
            time.ends_with("+08:00"),
            "Explain time {time:?} has no offset (the feed's times are China time)"
        );
    }
    let classification = answer.classification.clone().context("classification")?;
    assert_eq!(
        classification
            .category()
            .as_str_name()
            .trim_start_matches("TRADE_CATEGORY_")
            .to_lowercase(),
        counted.category
    );
    let contribution = answer.contribution.context("contribution")?;
    assert_eq!(parse_minute(&contribution.counted_at), Some(counted.minute));
    let measures = expected_of(&contribution.measures);
    assert_eq!(
        (
            measures.num_declarations,
            measures.num_items,
            measures.cny,
            measures.usd
        ),
        (1, counted.items.len() as u64, counted.cny, counted.usd)
    );

    let withdrawn = recount.withdrawn.iter().next().context("a withdrawal")?;
    let answer = client
        .explain(v1::ExplainRequest {
            id: withdrawn.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(answer.status, "withdrawn");
    assert!(answer.withdrawn && answer.contribution.is_none());

    let superseded = recount
        .superseded
        .iter()
        .find(|key| !recount.withdrawn.contains(*key))
        .context("a summarised inventory")?;
    let answer = client
        .explain(v1::ExplainRequest {
            id: superseded.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(answer.status, "superseded");
    assert!(!answer.superseded_by.is_empty() && answer.contribution.is_none());
    // Also found by its inventory number.
    let by_number = client
        .explain(v1::ExplainRequest {
            id: answer.invt_no.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(by_number.key, *superseded);

    let unknown = client
        .explain(v1::ExplainRequest {
            id: "no-such-declaration".into(),
        })
        .await;
    assert_eq!(unknown.err().map(|s| s.code()), Some(tonic::Code::NotFound));
    Ok(())
}

async fn validation(client: &mut Client) -> anyhow::Result<()> {
    let all = || window(v1::window::Kind::AllTime(v1::AllTime {}));
    let invalid = |result: Result<tonic::Response<v1::QueryResponse>, tonic::Status>| match result {
        Ok(_) => panic!("accepted"),
        Err(status) => {
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
            status.message().to_owned()
        }
    };
    let mut bad = request(all(), &[Dim::Category]);
    bad.group_by.push(42);
    assert_eq!(
        invalid(client.query(bad).await),
        "group_by[1]: unknown dimension"
    );
    let watermark = client
        .query(request(all(), &[]))
        .await?
        .into_inner()
        .freshness
        .map(|f| f.watermark)
        .unwrap_or_default();
    let watermark = parse_minute(&watermark).context("watermark")?;
    // Ten days back panes are hours; forty days back, China days.
    let hourly = watermark.div_euclid(HOUR) * HOUR - 10 * DAY + 30;
    let message = invalid(
        client
            .query(request(range(hourly, hourly + 3 * HOUR), &[]))
            .await,
    );
    assert!(
        message.starts_with("window.range.from: must align to whole hours"),
        "{message}"
    );
    let daily = customs_domain::stats::time::day_start(watermark) - 40 * DAY + 6 * HOUR;
    let message = invalid(
        client
            .query(request(range(daily, daily + 2 * DAY), &[]))
            .await,
    );
    assert!(
        message.starts_with("window.range.from: must align to whole China-time days"),
        "{message}"
    );
    let message = invalid(client.query(request(None, &[])).await);
    assert!(message.starts_with("window: required"), "{message}");
    let subscribe = client
        .subscribe(v1::SubscribeRequest {
            query: Some(request(all(), &[])),
            min_interval_ms: 10,
        })
        .await;
    assert_eq!(
        subscribe.err().map(|s| s.message().to_owned()).as_deref(),
        Some("min_interval_ms: at least 100")
    );
    Ok(())
}

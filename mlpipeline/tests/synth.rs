//! The synthetic TLC months load through the data module and look like real ones.

use mlpipeline::data::{load_data, TaxiColor, Trips};
use mlpipeline::processing::{process, Encoding, ProcessOptions};
use mlpipeline::synth::{write_month, OutputFormat, SynthConfig, TripGenerator};

/// Same rows, with missing values (`NaN`) equal to each other.
fn same_rows(a: &Trips, b: &Trips) -> bool {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    a.color() == b.color()
        && a.pickup_ns() == b.pickup_ns()
        && a.dropoff_ns() == b.dropoff_ns()
        && bits(a.pu_location_id()) == bits(b.pu_location_id())
        && bits(a.do_location_id()) == bits(b.do_location_id())
        && bits(a.passenger_count()) == bits(b.passenger_count())
}

fn config(rows: usize) -> SynthConfig {
    SynthConfig {
        rows,
        ..SynthConfig::default()
    }
}

#[test]
fn generated_month_loads_and_processing_keeps_about_95_percent() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_month(&config(40_000), dir.path(), OutputFormat::Both).unwrap();
    assert!(paths[0].ends_with("yellow_tripdata_2021-01.parquet"));
    assert!(paths[1].ends_with("yellow_tripdata_2021-01.csv"));
    let parquet = load_data(&paths[0]).unwrap();
    let csv = load_data(&paths[1]).unwrap();
    assert_eq!(parquet.len(), 40_000);
    assert!(
        same_rows(&parquet, &csv),
        "parquet and CSV hold the same rows"
    );
    assert_eq!(parquet.color(), TaxiColor::Yellow);

    let nulls = parquet
        .passenger_count()
        .iter()
        .filter(|v| v.is_nan())
        .count();
    let null_share = nulls as f64 / parquet.len() as f64;
    assert!(
        (0.06..0.08).contains(&null_share),
        "null passenger counts {null_share}"
    );

    // Timestamps fall in the month.
    let jan1 = 1_609_459_200_000_000_000i64;
    let feb1 = 1_612_137_600_000_000_000i64;
    assert!(parquet
        .pickup_ns()
        .iter()
        .all(|&t| (jan1..feb1).contains(&t)));

    let processed = process(parquet, true, &ProcessOptions::default()).unwrap();
    let kept = processed.len() as f64 / 40_000.0;
    assert!((0.93..0.97).contains(&kept), "kept {kept}");
}

#[test]
fn zone_popularity_is_skewed() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_month(&config(30_000), dir.path(), OutputFormat::Parquet).unwrap();
    let trips = load_data(&paths[0]).unwrap();
    let mut counts = vec![0usize; 266];
    for &z in trips.pu_location_id() {
        assert!((1.0..=265.0).contains(&z));
        counts[z as usize] += 1;
    }
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top10: usize = counts[..10].iter().sum();
    let share = top10 as f64 / trips.len() as f64;
    assert!(share > 0.3, "top-10 zones have {share} of pickups");
    assert!(
        counts.iter().filter(|&&c| c > 0).count() > 150,
        "most zones appear"
    );
}

#[test]
fn durations_depend_on_the_zones() {
    // The model must have something to learn: one-hot zones beat the mean by a margin.
    let dir = tempfile::tempdir().unwrap();
    let paths = write_month(&config(20_000), dir.path(), OutputFormat::Parquet).unwrap();
    let p = process(
        load_data(&paths[0]).unwrap(),
        true,
        &ProcessOptions::with_encoding(Encoding::OneHot),
    )
    .unwrap();
    let (x, y, _) = mlpipeline::processing::extract_x_y(&p, None).unwrap();
    let y = y.unwrap();
    let model = mlpipeline::model::LinearRegression::new()
        .fit(&x, &y)
        .unwrap();
    let fitted = mlpipeline::metrics::rmse(&y, &model.predict(&x).unwrap()).unwrap();
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let baseline = mlpipeline::metrics::rmse(&y, &vec![mean; y.len()]).unwrap();
    assert!(
        fitted < 0.9 * baseline,
        "rmse {fitted} vs baseline {baseline}"
    );
}

#[test]
fn generation_is_deterministic_and_months_differ() {
    let batch = |month| {
        TripGenerator::new(SynthConfig {
            month,
            ..config(1_000)
        })
        .unwrap()
        .next_batch(1_000)
        .unwrap()
    };
    assert_eq!(batch(1), batch(1));
    assert_ne!(batch(1).column(7), batch(2).column(7));
}

#[test]
fn green_schema_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        color: TaxiColor::Green,
        rows: 2_000,
        ..SynthConfig::default()
    };
    let paths = write_month(&cfg, dir.path(), OutputFormat::Both).unwrap();
    assert!(paths[0].ends_with("green_tripdata_2021-01.parquet"));
    let trips = load_data(&paths[0]).unwrap();
    assert_eq!(trips.color(), TaxiColor::Green);
    assert!(same_rows(&trips, &load_data(&paths[1]).unwrap()));
    let schema = TripGenerator::new(cfg).unwrap().schema();
    assert_eq!(schema.fields().len(), 20);
    assert!(schema.field_with_name("ehail_fee").is_ok());
}

#[test]
fn yellow_schema_has_the_19_tlc_columns() {
    let schema = TripGenerator::new(config(1)).unwrap().schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names.len(), 19);
    assert_eq!(names[1], "tpep_pickup_datetime");
    assert_eq!(names[18], "airport_fee");
}

#[test]
fn invalid_month_is_refused() {
    let err = TripGenerator::new(SynthConfig {
        month: 13,
        ..config(1)
    })
    .unwrap_err();
    assert!(err.to_string().contains("month"), "{err}");
}

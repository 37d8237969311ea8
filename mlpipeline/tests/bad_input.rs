//! Every bad input fails with an error that says what and where.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use mlpipeline::data::{load_data, TaxiColor, Trips};
use mlpipeline::features::{FeatureColumn, Records};
use mlpipeline::model::LinearRegression;
use mlpipeline::processing::{extract_x_y, process, Encoding, ProcessOptions};
use mlpipeline::sparse::CsrMatrix;
use mlpipeline::PipelineError;

const HEADER: &str = "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,RatecodeID,store_and_fwd_flag,PULocationID,DOLocationID,payment_type,fare_amount,extra,mta_tax,tip_amount,tolls_amount,improvement_surcharge,total_amount,congestion_surcharge,airport_fee";
const ROW: &str = "2,2021-01-01 00:02:11,2021-01-01 00:28:36,1.0,3.66,1.0,N,255,229,2,18.25,0.5,0.5,1.37,0.0,0.3,23.2,2.5,";

fn write(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn missing_file_names_the_path() {
    let err = load_data("/nonexistent/dir/yellow_tripdata_2021-01.parquet").unwrap_err();
    assert!(matches!(err, PipelineError::Io { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains("/nonexistent/dir/yellow_tripdata_2021-01.parquet"));
}

#[test]
fn unknown_extension_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "trips.json", b"{}");
    let err = load_data(&path).unwrap_err();
    assert!(
        matches!(err, PipelineError::UnsupportedFormat { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("trips.json"), "{err}");
}

#[test]
fn text_file_named_parquet_is_not_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "trips.parquet",
        format!("{HEADER}\n{ROW}\n").as_bytes(),
    );
    let err = load_data(&path).unwrap_err();
    assert!(matches!(err, PipelineError::Parquet { .. }), "{err:?}");
    assert!(err.to_string().contains("trips.parquet"), "{err}");
    assert!(
        err.to_string().contains("not a readable parquet file"),
        "{err}"
    );
}

#[test]
fn parquet_file_named_csv_is_not_csv() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("yellow_tripdata_sample_2021-01.parquet")).unwrap();
    let path = write(dir.path(), "trips.csv", &bytes);
    let err = load_data(&path).unwrap_err();
    assert!(
        matches!(
            err,
            PipelineError::Csv { .. } | PipelineError::MissingColumn { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("trips.csv"), "{err}");
}

#[test]
fn csv_missing_required_column_names_it_and_lists_found() {
    let dir = tempfile::tempdir().unwrap();
    let header = HEADER.replace("PULocationID,", "");
    let row = ROW.replace(",255,229,", ",229,");
    let path = write(
        dir.path(),
        "trips.csv",
        format!("{header}\n{row}\n").as_bytes(),
    );
    let err = load_data(&path).unwrap_err();
    match &err {
        PipelineError::MissingColumn { column, found, .. } => {
            assert_eq!(column, "PULocationID");
            assert!(found.iter().any(|c| c == "DOLocationID"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("`PULocationID`") && msg.contains("DOLocationID, payment_type"),
        "{msg}"
    );
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_missing_required_column_names_it_and_lists_found() {
    let dir = tempfile::tempdir().unwrap();
    let ts = |v: i64| Arc::new(TimestampMicrosecondArray::from(vec![v])) as _;
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "tpep_pickup_datetime",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new(
            "tpep_dropoff_datetime",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("PULocationID", DataType::Int64, true),
        Field::new("DOLocationID", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            ts(0),
            ts(600_000_000),
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(Int64Array::from(vec![2])),
        ],
    )
    .unwrap();
    let path = dir.path().join("trips.parquet");
    write_parquet(&path, &batch);
    let err = load_data(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, PipelineError::MissingColumn { .. }),
        "{err:?}"
    );
    assert!(msg.contains("`passenger_count`"), "{msg}");
    assert!(
        msg.contains("tpep_pickup_datetime, tpep_dropoff_datetime, PULocationID, DOLocationID"),
        "{msg}"
    );
}

#[test]
fn parquet_timestamp_column_of_strings_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("tpep_pickup_datetime", DataType::Utf8, true),
        Field::new("tpep_dropoff_datetime", DataType::Utf8, true),
        Field::new("PULocationID", DataType::Int64, true),
        Field::new("DOLocationID", DataType::Int64, true),
        Field::new("passenger_count", DataType::Int64, true),
    ]));
    let s = |v: &str| Arc::new(StringArray::from(vec![v])) as _;
    let i = |v: i64| Arc::new(Int64Array::from(vec![v])) as _;
    let batch = RecordBatch::try_new(
        schema,
        vec![
            s("2021-01-01 00:00:00"),
            s("2021-01-01 00:10:00"),
            i(1),
            i(2),
            i(1),
        ],
    )
    .unwrap();
    let path = dir.path().join("trips.parquet");
    write_parquet(&path, &batch);
    let err = load_data(&path).unwrap_err();
    assert!(
        matches!(err, PipelineError::UnsupportedColumnType { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("`tpep_pickup_datetime`"), "{err}");
}

#[test]
fn csv_unparsable_timestamp_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = ROW.replace("2021-01-01 00:28:36", "01/01/2021 00:28");
    let path = write(
        dir.path(),
        "trips.csv",
        format!("{HEADER}\n{ROW}\n{bad}\n").as_bytes(),
    );
    let err = load_data(&path).unwrap_err();
    match &err {
        PipelineError::Parse {
            line,
            column,
            value,
            ..
        } => {
            assert_eq!(*line, 3);
            assert_eq!(column, "tpep_dropoff_datetime");
            assert_eq!(value, "01/01/2021 00:28");
        }
        other => panic!("unexpected {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("line 3") && msg.contains("trips.csv"), "{msg}");
}

#[test]
fn csv_unparsable_number_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = ROW.replace(",255,229,", ",255,JFK,");
    let path = write(
        dir.path(),
        "trips.csv",
        format!("{HEADER}\n{bad}\n").as_bytes(),
    );
    let err = load_data(&path).unwrap_err();
    match &err {
        PipelineError::Parse {
            line,
            column,
            value,
            ..
        } => {
            assert_eq!(*line, 2);
            assert_eq!(column, "DOLocationID");
            assert_eq!(value, "JFK");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn empty_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in [
        ("a.csv", String::new()),
        ("b.parquet", String::new()),
        ("c.csv", format!("{HEADER}\n")),
    ] {
        let path = write(dir.path(), name, contents.as_bytes());
        let err = load_data(&path).unwrap_err();
        assert!(
            matches!(err, PipelineError::EmptyFile { .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn nothing_left_after_filtering_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A zero-length trip and a three-hour trip.
    let zero = ROW.replace("2021-01-01 00:28:36", "2021-01-01 00:02:11");
    let long = ROW.replace("2021-01-01 00:28:36", "2021-01-01 03:02:11");
    let path = write(
        dir.path(),
        "trips.csv",
        format!("{HEADER}\n{zero}\n{long}\n").as_bytes(),
    );
    let trips = load_data(&path).unwrap();
    let err = process(trips.clone(), true, &ProcessOptions::default()).unwrap_err();
    assert!(matches!(err, PipelineError::EmptyData { .. }), "{err:?}");
    assert!(err.to_string().contains("none of the 2 trips"), "{err}");
    // Without a target nothing is filtered.
    assert_eq!(
        process(trips, false, &ProcessOptions::default())
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn infinite_passenger_count_is_rejected_before_the_solver() {
    let trips = Trips::from_columns(
        TaxiColor::Yellow,
        vec![0, 0],
        vec![600_000_000_000, 600_000_000_000],
        vec![1.0, 2.0],
        vec![3.0, 4.0],
        vec![1.0, f64::INFINITY],
    )
    .unwrap();
    for encoding in [Encoding::Notebook, Encoding::OneHot] {
        let err = process(
            trips.clone(),
            true,
            &ProcessOptions::with_encoding(encoding),
        )
        .unwrap_err();
        assert!(
            matches!(err, PipelineError::NotAnInteger { row: 1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("passenger_count"), "{err}");
    }
}

#[test]
fn nan_or_infinite_values_never_reach_the_solver() {
    let x = CsrMatrix::from_parts(2, 1, vec![0, 1, 2], vec![0, 0], vec![1.0, 2.0]).unwrap();
    let err = LinearRegression::new()
        .fit(&x, &[1.0, f64::NAN])
        .unwrap_err();
    assert!(
        matches!(err, PipelineError::NonFinite { row: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("in y at row 1"), "{err}");

    let mut records = Records::new(2);
    records
        .push_column(
            "trip_distance",
            FeatureColumn::Numeric(vec![1.0, f64::INFINITY]),
        )
        .unwrap();
    let dv = mlpipeline::features::DictVectorizer::new().fit(&records);
    let x = dv.transform(&records).unwrap();
    let err = LinearRegression::new().fit(&x, &[1.0, 2.0]).unwrap_err();
    assert!(matches!(err, PipelineError::NonFinite { .. }), "{err:?}");
    assert!(err.to_string().contains("inf"), "{err}");
}

#[test]
fn fitting_zero_rows_is_an_error() {
    let x = CsrMatrix::from_parts(0, 3, vec![0], vec![], vec![]).unwrap();
    let err = LinearRegression::new().fit(&x, &[]).unwrap_err();
    assert!(matches!(err, PipelineError::EmptyData { .. }), "{err:?}");
}

#[test]
fn model_refuses_a_matrix_with_another_feature_count() {
    let trips = |pu: f64| {
        Trips::from_columns(
            TaxiColor::Yellow,
            vec![0, 0, 0],
            vec![600_000_000_000, 900_000_000_000, 1_200_000_000_000],
            vec![1.0, 2.0, pu],
            vec![3.0, 4.0, 5.0],
            vec![1.0, 1.0, 2.0],
        )
        .unwrap()
    };
    let options = ProcessOptions::with_encoding(Encoding::OneHot);
    let train = process(trips(1.0), true, &options).unwrap();
    let (x, y, _) = extract_x_y(&train, None).unwrap();
    let model = LinearRegression::new().fit(&x, &y.unwrap()).unwrap();
    // Re-fitting the vectorizer on other data (the course's bug) gives another feature count.
    let other = process(trips(7.0), true, &options).unwrap();
    let (x_refit, _, dv_refit) = extract_x_y(&other, None).unwrap();
    assert_ne!(dv_refit.n_features(), model.n_features());
    let err = model.predict(&x_refit).unwrap_err();
    assert!(
        matches!(err, PipelineError::FeatureMismatch { .. }),
        "{err:?}"
    );
    // The RMSE without held predictions says the same first, whatever else is wrong.
    for y in [&[][..], &[1.0, f64::NAN][..]] {
        let rmse_err = model.rmse(&x_refit, y).unwrap_err();
        assert!(
            matches!(rmse_err, PipelineError::FeatureMismatch { .. }),
            "{rmse_err:?}"
        );
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("produces {} features", x_refit.ncols())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("expects {}", model.n_features())),
        "{msg}"
    );
}

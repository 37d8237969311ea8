//! Saving and loading the vectorizer + model as one checked file.

use std::path::PathBuf;
use std::sync::OnceLock;

use mlpipeline::artifacts::{self, ModelArtifact, TrainingMetadata, FORMAT_VERSION, MAGIC};
use mlpipeline::data::load_data;
use mlpipeline::metrics::rmse;
use mlpipeline::model::LinearRegression;
use mlpipeline::processing::{extract_x_y, process, Encoding, ProcessOptions};
use mlpipeline::PipelineError;
use sha2::{Digest, Sha256};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Trained once per encoding: one-hot fits are slow in unoptimized test builds.
fn trained(encoding: Encoding) -> ModelArtifact {
    static NOTEBOOK: OnceLock<ModelArtifact> = OnceLock::new();
    static ONEHOT: OnceLock<ModelArtifact> = OnceLock::new();
    let cell = match encoding {
        Encoding::Notebook => &NOTEBOOK,
        Encoding::OneHot => &ONEHOT,
    };
    cell.get_or_init(|| train(encoding)).clone()
}

fn train(encoding: Encoding) -> ModelArtifact {
    let options = ProcessOptions::with_encoding(encoding);
    let train = process(
        load_data(fixture("yellow_tripdata_sample_2021-01.parquet")).unwrap(),
        true,
        &options,
    )
    .unwrap();
    let (x, y, dv) = extract_x_y(&train, None).unwrap();
    let y = y.unwrap();
    let model = LinearRegression::new().fit(&x, &y).unwrap();
    let mut meta = TrainingMetadata::new(y.len(), rmse(&y, &model.predict(&x).unwrap()).unwrap());
    meta.train_source = Some("yellow_tripdata_sample_2021-01.parquet".into());
    ModelArtifact::new(encoding, dv, model, meta).unwrap()
}

/// Rebuilds a file around an edited payload with a valid header and checksum (a deliberate
/// tampering, not a corruption).
fn reseal(payload: &[u8]) -> Vec<u8> {
    let digest: String = Sha256::digest(payload)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out = format!(
        "{MAGIC} {FORMAT_VERSION} sha256={digest} bytes={}\n",
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn payload(bytes: &[u8]) -> &[u8] {
    let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
    &bytes[nl + 1..]
}

#[test]
fn round_trip_is_exact_and_predicts_the_same() {
    let dir = tempfile::tempdir().unwrap();
    for encoding in [Encoding::Notebook, Encoding::OneHot] {
        let artifact = trained(encoding);
        let path = dir.path().join(format!("{encoding}.mlp"));
        artifacts::save(&artifact, &path).unwrap();
        let loaded = artifacts::load(&path).unwrap();
        assert_eq!(loaded, artifact);
        let options = ProcessOptions::with_encoding(encoding);
        let data = process(
            load_data(fixture("yellow_tripdata_sample_2021-03.parquet")).unwrap(),
            false,
            &options,
        )
        .unwrap();
        assert_eq!(
            loaded.predict(&data).unwrap(),
            artifact.predict(&data).unwrap()
        );
    }
    // Only the two artifacts: no temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn truncated_file_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = artifacts::to_bytes(&trained(Encoding::OneHot)).unwrap();
    let path = dir.path().join("model.mlp");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = artifacts::load(&path).unwrap_err();
    assert!(matches!(err, PipelineError::Artifact { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("truncated") && msg.contains("model.mlp"),
        "{msg}"
    );
}

#[test]
fn corrupt_byte_fails_the_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = artifacts::to_bytes(&trained(Encoding::Notebook)).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 0x01;
    let path = dir.path().join("model.mlp");
    std::fs::write(&path, &bytes).unwrap();
    let err = artifacts::load(&path).unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}

#[test]
fn other_format_version_is_refused() {
    let bytes = artifacts::to_bytes(&trained(Encoding::Notebook)).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let edited = text.replacen(
        &format!("{MAGIC} {FORMAT_VERSION} "),
        &format!("{MAGIC} 99 "),
        1,
    );
    let err = artifacts::from_bytes(edited.as_bytes(), "m.mlp".as_ref()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("format version 99 is not supported"), "{msg}");
}

#[test]
fn a_file_that_is_not_an_artifact_is_refused() {
    let err = artifacts::from_bytes(b"\x80\x04\x95pickle\n", "model.bin".as_ref()).unwrap_err();
    assert!(err.to_string().contains("not a model artifact"), "{err}");
    let err = artifacts::from_bytes(b"", "model.bin".as_ref()).unwrap_err();
    assert!(err.to_string().contains("not a model artifact"), "{err}");
}

#[test]
fn tampered_pair_with_valid_checksum_is_caught_at_load() {
    // The course's crash: a vectorizer with 527 features next to a model expecting 528. Drop one
    // feature name from the saved vectorizer and re-seal the file.
    let artifact = trained(Encoding::OneHot);
    let n = artifact.model().n_features();
    let bytes = artifacts::to_bytes(&artifact).unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(payload(&bytes)).unwrap();
    json["vectorizer"]["feature_names"]
        .as_array_mut()
        .unwrap()
        .pop();
    let tampered = reseal(&serde_json::to_vec(&json).unwrap());
    let err = artifacts::from_bytes(&tampered, "model.mlp".as_ref()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("produces {} features", n - 1))
            && msg.contains(&format!("expects {n}")),
        "{msg}"
    );
}

#[test]
fn unsorted_feature_names_are_refused_at_load() {
    let artifact = trained(Encoding::Notebook);
    let bytes = artifacts::to_bytes(&artifact).unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(payload(&bytes)).unwrap();
    json["vectorizer"]["feature_names"]
        .as_array_mut()
        .unwrap()
        .swap(0, 1);
    let err = artifacts::from_bytes(&reseal(&serde_json::to_vec(&json).unwrap()), "m".as_ref())
        .unwrap_err();
    assert!(err.to_string().contains("sorted and unique"), "{err}");
}

#[test]
fn mismatched_pair_cannot_be_bundled() {
    let notebook = trained(Encoding::Notebook);
    let onehot = trained(Encoding::OneHot);
    let err = ModelArtifact::new(
        Encoding::OneHot,
        onehot.vectorizer().clone(),
        notebook.model().clone(),
        TrainingMetadata::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        PipelineError::FeatureMismatch {
            model_features: 3,
            ..
        }
    ));
}

#[test]
fn data_with_another_encoding_is_refused() {
    let artifact = trained(Encoding::OneHot);
    let data = process(
        load_data(fixture("yellow_tripdata_sample_2021-03.parquet")).unwrap(),
        false,
        &ProcessOptions::with_encoding(Encoding::Notebook),
    )
    .unwrap();
    let err = artifact.predict(&data).unwrap_err();
    assert!(
        matches!(err, PipelineError::EncodingMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn save_into_missing_directory_names_the_path() {
    let err =
        artifacts::save(&trained(Encoding::Notebook), "/nonexistent/dir/model.mlp").unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/dir/model.mlp"),
        "{err}"
    );
}

//! The course's last exercise: retrain weekly, predict hourly, unattended.
//!
//! ```text
//! flowcore server start                                   # terminal 1
//! flowcore config set api-url http://127.0.0.1:4200/api
//! cargo run --example deploy                              # applies the two deployments
//! flowcore agent start                                    # terminal 2: runs them when due
//! flowcore deployment run "Model training/weekly-retrain" # or now
//! ```
//!
//! It applies "train weekly" (cron `0 0 * * 0`, Europe/Paris) and "predict hourly" (every 3600 s)
//! with parameters pointing at the bundled January–March 2021 sample, on the `default` work queue.
//! The deployments record this very program as their entrypoint: when the agent starts it for a flow
//! run, `flowcore::entrypoint()` (the first line of `main`) runs that flow run and exits.

use std::path::PathBuf;
use std::time::Duration;

use flowcore::deployment::Deployment;
use flowcore::schedule::{CronSchedule, IntervalSchedule};
use mlpipeline::flows::{predict_flow, train_flow, PredictParameters, TrainParameters};

fn main() -> anyhow::Result<()> {
    flowcore::entrypoint();

    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mlpipeline/tests/data");
    let sample = |month: &str| data.join(format!("yellow_tripdata_sample_2021-{month}.parquet"));
    let results = std::env::current_dir()?.join("results");
    let train = TrainParameters {
        out_dir: results.clone(),
        ..TrainParameters::new(sample("01"), sample("02"))
    };
    let predict = PredictParameters {
        data_path: sample("03"),
        model_path: train.model_path(),
        out_path: results.join("predictions-2021-03.parquet"),
    };

    let runtime = tokio::runtime::Runtime::new()?;
    let (weekly, hourly) = runtime.block_on(async {
        let weekly = Deployment::build_from_flow(&train_flow)
            .name("weekly-retrain")
            .version("1.0")
            .tags(["ml"])
            .schedule(CronSchedule::new("0 0 * * 0")?.timezone("Europe/Paris")?)
            .parameters(serde_json::json!({ "params": train }))
            .work_queue("default")
            .apply()
            .await?;
        let hourly = Deployment::build_from_flow(&predict_flow)
            .name("hourly-predict")
            .version("1.0")
            .tags(["ml"])
            .schedule(IntervalSchedule::every(Duration::from_secs(3600))?)
            .parameters(serde_json::json!({ "params": predict }))
            .work_queue("default")
            .apply()
            .await?;
        anyhow::Ok((weekly, hourly))
    })?;
    for d in [&weekly, &hourly] {
        println!(
            "applied {}/{} ({}): {}, work queue {:?}",
            d.spec.flow_name,
            d.spec.name,
            d.id,
            d.schedule_description.as_deref().unwrap_or("no schedule"),
            d.spec.work_queue_name
        );
    }
    println!("start an agent:     flowcore agent start");
    println!("run one right now:  flowcore deployment run \"Model training/weekly-retrain\"");
    Ok(())
}

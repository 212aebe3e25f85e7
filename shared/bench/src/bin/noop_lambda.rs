//! The cold-start baseline of `make bench`: the Lambda runtime with an empty handler, built with
//! the same release profile as the functions.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: LambdaEvent<Value>| async { Ok::<_, Error>(json!({})) })).await
}

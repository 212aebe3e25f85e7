//! `make run`: the whole of Vanta in one process, DRY, in memory, no AWS account.

use vanta_runtime::Config;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    vanta_runtime::init_tracing(config.log_json);
    config.warn_deprecated_names();
    let system = vanta_local::System::build(config)?;
    let running = system.start().await?;
    println!("{}", running.banner());
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    running.stop().await;
    Ok(())
}

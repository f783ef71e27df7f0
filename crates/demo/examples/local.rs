//! The demo week against the local cluster (`deploy/local/run.sh`) on its default ports, until
//! `rentops demo` calls it: `cargo run -p rentops-demo --example local -- [--seed N] [--cars N]
//! [--json]`.

use clap::Parser as _;

#[derive(Debug, clap::Parser)]
struct Cli {
    #[command(flatten)]
    demo: rentops_demo::DemoArgs,
    /// The figures as JSON.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let figures = rentops_demo::run(&cli.demo, &rentops_demo::Endpoints::local(), cli.json).await?;
    println!("{figures}");
    Ok(())
}

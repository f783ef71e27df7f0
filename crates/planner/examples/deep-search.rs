//! How the Lagrangian search budget trades time for plan quality and bound tightness.
//!
//! `deep-search INSTANCE.json [ITERATIONS:RECOVER_EVERY]...` — plans the instance once per
//! budget (default budgets: 30:10, 100:10, 300:10, 600:20) and prints fulfilled, bound and time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test and tool code: fail loudly

use std::time::Instant;

use anyhow::{Context, Result};
use rentops_planner::{Instance, PlanOptions, plan};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: deep-search INSTANCE.json [ITERATIONS:EVERY]...")?;
    let inst = Instance::from_json(&std::fs::read_to_string(&path)?)?;
    let mut budgets: Vec<(usize, usize)> = Vec::new();
    for a in args {
        let (i, e) = a.split_once(':').context("budget is ITERATIONS:RECOVER_EVERY")?;
        budgets.push((i.parse()?, e.parse()?));
    }
    if budgets.is_empty() {
        budgets = vec![(30, 10), (100, 10), (300, 10), (600, 20)];
    }
    for (iterations, every) in budgets {
        let options = PlanOptions {
            lagrange_iterations: iterations,
            recover_every: every,
            ..PlanOptions::default()
        };
        let t = Instant::now();
        let out = plan(&inst, &options)?;
        println!(
            "iterations {iterations:>4}, recover every {every:>2}: fulfilled {}, upgrades {}, relocation {} min, bound {}, proven {}, {:?}",
            out.report.fulfilled,
            out.report.upgrades,
            out.report.relocation_minutes,
            out.report.upper_bound_fulfilled,
            out.report.proven_optimal,
            t.elapsed()
        );
    }
    Ok(())
}

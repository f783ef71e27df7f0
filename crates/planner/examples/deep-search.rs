//! How the Lagrangian search budget trades time for plan quality and bound tightness.
//!
//! `deep-search INSTANCE.json|gen:ORDERS:VEHICLES:SEED [ITERATIONS:RECOVER_EVERY[:PROVE_ITERATIONS]]...` — plans the
//! instance once per budget (default budgets: 30:10, 100:10, 300:10, 600:20, and 30:10:300,
//! which proves) and prints fulfilled, bound and time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test and tool code: fail loudly

use std::time::Instant;

use anyhow::{Context, Result};
use rentops_planner::{Instance, PlanOptions, generate, plan};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: deep-search INSTANCE.json [ITERATIONS:EVERY]...")?;
    let inst = match path.strip_prefix("gen:") {
        // gen:ORDERS:VEHICLES:SEED, as in planner-bench.
        Some(spec) => {
            let p: Vec<usize> = spec.split(':').map(|x| x.parse()).collect::<Result<_, _>>()?;
            anyhow::ensure!(p.len() == 3, "expected gen:ORDERS:VEHICLES:SEED");
            generate(p[2] as u64, p[0], p[1])
        }
        None => Instance::from_json(&std::fs::read_to_string(&path)?)?,
    };
    let mut budgets: Vec<(usize, usize, usize)> = Vec::new();
    for a in args {
        let parts: Vec<&str> = a.split(':').collect();
        let (i, e) = match parts.as_slice() {
            [i, e] | [i, e, _] => (i.parse()?, e.parse()?),
            _ => anyhow::bail!("budget is ITERATIONS:RECOVER_EVERY[:PROVE_ITERATIONS]"),
        };
        let p = parts.get(2).map(|x| x.parse()).transpose()?.unwrap_or(0);
        budgets.push((i, e, p));
    }
    if budgets.is_empty() {
        budgets = vec![(30, 10, 0), (100, 10, 0), (300, 10, 0), (600, 20, 0), (30, 10, 300)];
    }
    for (iterations, every, prove) in budgets {
        let options = PlanOptions {
            lagrange_iterations: iterations,
            recover_every: every,
            prove: prove > 0,
            prove_iterations: prove,
            ..PlanOptions::default()
        };
        let t = Instant::now();
        let out = plan(&inst, &options)?;
        println!(
            "iterations {iterations:>4}, recover every {every:>2}, prove {prove:>3}: fulfilled {}, upgrades {}, relocation {} min, bound {}, proven {}, {:?}",
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

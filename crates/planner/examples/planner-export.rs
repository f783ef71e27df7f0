//! Writes instances and plans as files, for checking plans with other programs (the Python
//! checker, an external MILP solver).
//!
//! `planner-export DIR [INSTANCE.json | gen:ORDERS:VEHICLES:SEED]...` — for each instance: writes
//! it to `DIR/NAME.instance.json` (a generated one as `generate(SEED, ORDERS, VEHICLES)`), plans
//! it with default options, writes the plan to `DIR/NAME.plan.json`, and prints one line: name,
//! orders, vehicles, fulfilled, upgrades, relocation minutes, bound and planning time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tool code: fail loudly

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rentops_planner::{Instance, PlanOptions, check, generate, plan};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .context("usage: planner-export DIR [INSTANCE.json | gen:ORDERS:VEHICLES:SEED]...")?;
    std::fs::create_dir_all(&dir)?;
    for arg in args {
        let (name, inst) = match arg.strip_prefix("gen:") {
            Some(spec) => {
                let p: Vec<usize> = spec.split(':').map(|x| x.parse()).collect::<Result<_, _>>()?;
                if p.len() != 3 {
                    bail!("expected gen:ORDERS:VEHICLES:SEED, got {arg}");
                }
                (
                    format!("gen-{}-{}-{}", p[0], p[1], p[2]),
                    generate(p[2] as u64, p[0], p[1]),
                )
            }
            None => {
                let stem = Path::new(&arg)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("instance")
                    .to_string();
                (stem, Instance::from_json(&std::fs::read_to_string(&arg)?)?)
            }
        };
        let t = Instant::now();
        let out = plan(&inst, &PlanOptions::default())?;
        let elapsed = t.elapsed();
        check(&inst, &out.plan).map_err(|e| anyhow::anyhow!("{arg}: infeasible plan: {}", e.join("; ")))?;
        std::fs::write(Path::new(&dir).join(format!("{name}.instance.json")), inst.to_json())?;
        std::fs::write(Path::new(&dir).join(format!("{name}.plan.json")), out.plan.to_json())?;
        let r = &out.report;
        println!(
            "{name} orders {} vehicles {} fulfilled {} upgrades {} relocation {} bound {} time_ms {:.1}",
            inst.orders.len(),
            inst.vehicles.len(),
            r.fulfilled,
            r.upgrades,
            r.relocation_minutes,
            r.upper_bound_fulfilled,
            elapsed.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

//! Benchmarks the planner against the greedy baseline.
//!
//! `planner-bench [--prove] [INSTANCE.json | gen:ORDERS:VEHICLES:SEED]...` — for each instance:
//! greedy and the planner, 5 runs each (KPIs and median time); with `--prove`, the planner with
//! `PlanOptions::prove` as well (5 runs: its bound, and the proof's cost as the difference of the
//! medians); then a re-plan after one breakdown (the busiest car blocked over its first planned
//! order; `previous_plan` = the plan), 5 runs, and with `--prove` the same re-plan proven (5
//! runs); then the peak resident memory of the process (VmHWM).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test and tool code: fail loudly

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rentops_planner::{Instance, PlanOptions, Window, check, generate, greedy, plan};

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `f` `RUNS` times: its last result and the median time.
fn timed<T>(mut f: impl FnMut() -> Result<T>) -> Result<(T, Duration)> {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        last = Some(f()?);
        times.push(t.elapsed());
    }
    Ok((last.context("no run")?, median(times)))
}

fn load(arg: &str) -> Result<Instance> {
    if let Some(spec) = arg.strip_prefix("gen:") {
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() != 3 {
            bail!("expected gen:ORDERS:VEHICLES:SEED, got {arg}");
        }
        return Ok(generate(parts[2].parse()?, parts[0].parse()?, parts[1].parse()?));
    }
    let text = std::fs::read_to_string(arg).with_context(|| format!("reading {arg}"))?;
    Ok(Instance::from_json(&text)?)
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM")).map(|l| l.to_string()))
        .unwrap_or_else(|| "VmHWM: unknown".to_string())
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let prove = args.iter().any(|a| a == "--prove");
    args.retain(|a| a != "--prove");
    if args.is_empty() {
        bail!("usage: planner-bench [--prove] [INSTANCE.json | gen:ORDERS:VEHICLES:SEED]...");
    }
    let options = PlanOptions::default();
    let proving = PlanOptions {
        prove: true,
        ..PlanOptions::default()
    };
    for arg in &args {
        let inst = load(arg)?;
        println!(
            "== {arg}: {} orders, {} vehicles",
            inst.orders.len(),
            inst.vehicles.len()
        );
        let (g, greedy_time) = timed(|| Ok(greedy(&inst)))?;
        let r = check(&inst, &g).map_err(|e| anyhow::anyhow!("greedy infeasible: {e:?}"))?;
        println!(
            "greedy : fulfilled {} ({:.4}), idle {:.4}, upgrades {}, relocation {} min, median {:?}",
            r.fulfilled, r.fulfilment_rate, r.idle_rate, r.upgrades, r.relocation_minutes, greedy_time
        );
        let (out, plan_time) = timed(|| Ok(plan(&inst, &options)?))?;
        let r = check(&inst, &out.plan).map_err(|e| anyhow::anyhow!("plan infeasible: {e:?}"))?;
        println!(
            "planner: fulfilled {} ({:.4}), idle {:.4}, upgrades {}, relocation {} min, median {:?}; bound {} proven {}",
            r.fulfilled,
            r.fulfilment_rate,
            r.idle_rate,
            r.upgrades,
            r.relocation_minutes,
            plan_time,
            out.report.upper_bound_fulfilled,
            out.report.proven_optimal
        );
        if prove {
            let (proved, total) = timed(|| Ok(plan(&inst, &proving)?))?;
            check(&inst, &proved.plan).map_err(|e| anyhow::anyhow!("plan infeasible: {e:?}"))?;
            println!(
                "prove  : fulfilled {}, bound {} proven {}, median {:?} (proof {:?})",
                proved.report.fulfilled,
                proved.report.upper_bound_fulfilled,
                proved.report.proven_optimal,
                total,
                total.saturating_sub(plan_time)
            );
        }
        // Breakdown: the car with the most orders is blocked over its first order.
        let mut counts = std::collections::BTreeMap::new();
        for a in &out.plan.assignments {
            *counts.entry(a.vehicle.clone()).or_insert(0usize) += 1;
        }
        let Some((car, _)) = counts
            .iter()
            .max_by_key(|(v, n)| (**n, std::cmp::Reverse((*v).clone())))
        else {
            continue;
        };
        let first = out
            .plan
            .assignments
            .iter()
            .find(|a| &a.vehicle == car)
            .context("no order")?;
        let order = inst.orders.iter().find(|o| o.id == first.order).context("no order")?;
        let mut next = inst.clone();
        next.previous_plan = Some(out.plan.assignments.clone());
        if let Some(v) = next.vehicles.iter_mut().find(|v| &v.id == car) {
            v.blocked.push(Window {
                from: order.pickup_at.clone(),
                to: order.return_at.clone(),
            });
        }
        let (again, replan_time) = timed(|| Ok(plan(&next, &options)?))?;
        let r2 = check(&next, &again.plan).map_err(|e| anyhow::anyhow!("re-plan infeasible: {e:?}"))?;
        println!(
            "re-plan after breakdown of {car}: fulfilled {} (was {}), moved {}, median {:?}",
            r2.fulfilled, r.fulfilled, r2.moved_from_previous, replan_time
        );
        if prove {
            let (proved, total) = timed(|| Ok(plan(&next, &proving)?))?;
            anyhow::ensure!(proved.plan == again.plan, "proving changed the re-plan");
            println!(
                "re-plan + prove: same plan, bound {} proven {}, median {:?} (proof {:?})",
                proved.report.upper_bound_fulfilled,
                proved.report.proven_optimal,
                total,
                total.saturating_sub(replan_time)
            );
        }
    }
    println!("{}", peak_rss());
    Ok(())
}

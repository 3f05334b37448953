//! A pool of workers fed through a channel.
//!
//! Main hands out jobs and collects results in one loop with `choose`
//! (send the next job, or receive a result, whichever can happen first).
//! Each worker runs a job as a child coroutine and gives it a time budget:
//! a job that overruns is cancelled by `join`'s deadline. When the jobs run
//! out, `done` tells the workers to stop. Prints one line per job and a
//! summary.
//!
//! ```text
//! cargo run --release --example worker_pool -- [JOBS] [WORKERS]
//! ```

use std::io;
use std::process::ExitCode;

use dill::{after, bundle, chmake, choose, errno, go, msleep, now, Clause};

/// Time a job may take before it is cancelled, in ms.
const BUDGET: i64 = 25;
/// Time the whole run may take, in ms.
const OVERALL: i64 = 10_000;

#[derive(Debug)]
struct Job {
    id: u32,
    /// How long the job "works", in ms.
    cost: i64,
}

#[derive(Debug)]
enum Outcome {
    Done(u64),
    Cancelled,
}

#[derive(Debug)]
struct Report {
    worker: usize,
    job: u32,
    outcome: Outcome,
    took: i64,
}

fn arg(i: usize, default: usize) -> Result<usize, String> {
    match std::env::args().nth(i) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|e| format!("bad argument {s:?}: {e}")),
    }
}

fn main() -> ExitCode {
    let (jobs, workers) = match (arg(1, 40), arg(2, 4)) {
        (Ok(j), Ok(w)) if w > 0 => (j, w),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("usage: worker_pool [JOBS] [WORKERS]  ({e})");
            return ExitCode::from(2);
        }
        _ => {
            eprintln!("usage: worker_pool [JOBS] [WORKERS>0]");
            return ExitCode::from(2);
        }
    };
    match run(jobs, workers) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker_pool: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The work itself: sleeps for `cost` ms, then computes something.
fn work(job: &Job) -> io::Result<u64> {
    msleep(after(job.cost))?;
    Ok((1..=u64::from(job.id)).sum())
}

fn run(njobs: usize, nworkers: usize) -> io::Result<()> {
    let start = now();
    let deadline = start + OVERALL;
    let (jobs_tx, jobs_rx) = chmake::<Job>()?;
    let (results_tx, results_rx) = chmake::<Report>()?;

    let pool = bundle()?;
    for w in 0..nworkers {
        let jobs = jobs_rx.clone();
        let results = results_tx.clone();
        pool.go(move || {
            while let Ok(job) = jobs.recv(-1) {
                let began = now();
                let id = job.id;
                let Ok(child) = go(move || work(&job)) else {
                    break;
                };
                // On ETIMEDOUT, join cancels the child (its msleep fails
                // with ECANCELED) and waits for it before returning.
                let outcome = match child.join(began + BUDGET) {
                    Ok(Ok(v)) => Outcome::Done(v),
                    Ok(Err(_)) => Outcome::Cancelled,
                    Err(e) if e.raw_os_error() == Some(errno::ETIMEDOUT) => Outcome::Cancelled,
                    Err(_) => break, // this worker is being cancelled
                };
                let report = Report {
                    worker: w,
                    job: id,
                    outcome,
                    took: now() - began,
                };
                if results.send(report, -1).is_err() {
                    break;
                }
            }
        })?;
    }
    // Only the workers hold these now.
    drop(jobs_rx);
    drop(results_tx);

    // Job costs from 0 to 49 ms, spread deterministically.
    let mut pending = (0..njobs as u32).map(|id| Job {
        id,
        cost: i64::from(id * 37 % 50),
    });
    let mut next = pending.next();
    let mut received = 0;
    let (mut done, mut cancelled) = (0, 0);
    let mut per_worker = vec![0usize; nworkers];
    while received < njobs {
        let mut report = None;
        let fired = if next.is_some() {
            choose(
                &mut [
                    Clause::send(&jobs_tx, &mut next),
                    Clause::recv(&results_rx, &mut report),
                ],
                deadline,
            )?
        } else {
            choose(&mut [Clause::recv(&results_rx, &mut report)], deadline)? + 1
        };
        if fired == 0 {
            next = pending.next();
            if next.is_none() {
                jobs_tx.done()?;
            }
            continue;
        }
        let r = report.expect("the receive clause fired");
        received += 1;
        per_worker[r.worker] += 1;
        match r.outcome {
            Outcome::Done(v) => {
                done += 1;
                println!(
                    "job {:>3}: worker {} done in {:>2} ms -> {v}",
                    r.job, r.worker, r.took
                );
            }
            Outcome::Cancelled => {
                cancelled += 1;
                println!(
                    "job {:>3}: worker {} cancelled after {:>2} ms",
                    r.job, r.worker, r.took
                );
            }
        }
    }
    if njobs == 0 {
        jobs_tx.done()?;
    }
    pool.wait(deadline)?;
    println!(
        "{njobs} jobs on {nworkers} workers in {} ms: {done} done, {cancelled} cancelled \
         (budget {BUDGET} ms); jobs per worker: {per_worker:?}",
        now() - start
    );
    Ok(())
}

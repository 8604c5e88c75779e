//! Runs the vertices of a build graph in dependency order, as many at once as
//! the job limit allows.
//!
//! Only the vertices the requested roots need are run. A vertex starts as soon
//! as all of its inputs have results; the graph already merged vertices with
//! equal digests, so identical steps of several stages run once. The first
//! failure cancels the build: running vertices see the shared [`Cancel`] (the
//! runner kills sandboxes and cleans up), no new vertex starts, and the first
//! error is returned once everything running has stopped. A cancel from
//! outside (Ctrl-C) ends the build the same way with [`SolveError::Cancelled`].
//!
//! An index arena and Kahn's algorithm instead of petgraph: the graph is
//! tens to hundreds of vertices and the scheduler needs its own ready-queue
//! state anyway (see DEPENDENCIES.md).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use hoist_frontend::graph::{BuildGraph, VertexId};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::cancel::Cancel;

/// What runs one vertex. `inputs` holds the results of the vertex's inputs,
/// in the order of `Vertex::inputs`.
pub trait Runner: Send + Sync + 'static {
    type Output: Clone + Send + Sync + 'static;
    type Error: Send + 'static;

    fn run(
        self: Arc<Self>,
        vertex: VertexId,
        inputs: Vec<Self::Output>,
        cancel: Cancel,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send + 'static;
}

/// Why a solve stopped.
#[derive(Debug, thiserror::Error)]
pub enum SolveError<E> {
    #[error("vertex {vertex:?} failed")]
    Vertex { vertex: VertexId, error: E },
    #[error("vertex {vertex:?} panicked: {message}")]
    Panic { vertex: VertexId, message: String },
    #[error("the build was cancelled")]
    Cancelled,
}

/// What a vertex task ends with; `Err(None)` = skipped because cancelled.
type TaskOutcome<R> = (
    VertexId,
    Result<<R as Runner>::Output, Option<<R as Runner>::Error>>,
);

/// Every vertex `roots` depend on (roots included).
pub fn needed(graph: &BuildGraph, roots: &[VertexId]) -> BTreeSet<VertexId> {
    let mut seen = BTreeSet::new();
    let mut stack = roots.to_vec();
    while let Some(v) = stack.pop() {
        if seen.insert(v) {
            stack.extend(graph.vertex(v).inputs.iter().copied());
        }
    }
    seen
}

/// Runs what `roots` need with at most `jobs` runner calls at once and returns
/// the result of every vertex that ran.
pub async fn solve<R: Runner>(
    graph: &BuildGraph,
    roots: &[VertexId],
    jobs: usize,
    runner: Arc<R>,
    cancel: Cancel,
) -> Result<BTreeMap<VertexId, R::Output>, SolveError<R::Error>> {
    let needed = needed(graph, roots);
    let mut waiting: BTreeMap<VertexId, BTreeSet<VertexId>> = BTreeMap::new();
    let mut users: BTreeMap<VertexId, Vec<VertexId>> = BTreeMap::new();
    for &v in &needed {
        let inputs: BTreeSet<VertexId> = graph.vertex(v).inputs.iter().copied().collect();
        for &i in &inputs {
            users.entry(i).or_default().push(v);
        }
        waiting.insert(v, inputs);
    }
    let permits = Arc::new(Semaphore::new(jobs.max(1)));
    let mut results: BTreeMap<VertexId, R::Output> = BTreeMap::new();
    let mut tasks: JoinSet<TaskOutcome<R>> = JoinSet::new();
    let mut task_vertex = std::collections::HashMap::new();
    let mut first_error: Option<SolveError<R::Error>> = None;

    let start =
        |v: VertexId,
         results: &BTreeMap<VertexId, R::Output>,
         tasks: &mut JoinSet<_>,
         task_vertex: &mut std::collections::HashMap<tokio::task::Id, VertexId>| {
            let inputs: Vec<R::Output> = graph
                .vertex(v)
                .inputs
                .iter()
                .map(|i| results[i].clone())
                .collect();
            let (runner, cancel, permits) = (runner.clone(), cancel.clone(), permits.clone());
            let handle = tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                if cancel.is_cancelled() {
                    return (v, Err(None));
                }
                (v, runner.run(v, inputs, cancel).await.map_err(Some))
            });
            task_vertex.insert(handle.id(), v);
        };

    let ready: Vec<VertexId> = waiting
        .iter()
        .filter(|(_, w)| w.is_empty())
        .map(|(v, _)| *v)
        .collect();
    for v in ready {
        waiting.remove(&v);
        start(v, &results, &mut tasks, &mut task_vertex);
    }

    while let Some(joined) = tasks.join_next_with_id().await {
        let (v, outcome) = match joined {
            Ok((_, (v, outcome))) => (v, outcome),
            Err(e) => {
                let v = task_vertex
                    .get(&e.id())
                    .copied()
                    .unwrap_or(VertexId(usize::MAX));
                if first_error.is_none() {
                    let message = match e.try_into_panic() {
                        Ok(p) => p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "unknown panic".into()),
                        Err(e) => e.to_string(),
                    };
                    first_error = Some(SolveError::Panic { vertex: v, message });
                    cancel.cancel();
                }
                continue;
            }
        };
        match outcome {
            Ok(out) => {
                results.insert(v, out);
                if cancel.is_cancelled() {
                    continue;
                }
                for &u in users.get(&v).map(Vec::as_slice).unwrap_or(&[]) {
                    let done = waiting.get_mut(&u).is_some_and(|w| {
                        w.remove(&v);
                        w.is_empty()
                    });
                    if done {
                        waiting.remove(&u);
                        start(u, &results, &mut tasks, &mut task_vertex);
                    }
                }
            }
            Err(error) => {
                if first_error.is_none() {
                    first_error = Some(match error {
                        Some(error) if !cancel.is_cancelled() => {
                            SolveError::Vertex { vertex: v, error }
                        }
                        _ => SolveError::Cancelled,
                    });
                }
                cancel.cancel();
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if cancel.is_cancelled() && !waiting.is_empty() {
        return Err(SolveError::Cancelled);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use hoist_frontend::graph::{ExecOp, GraphBuilder, Network, Op, Security, SourceOp};

    use super::*;

    fn op(name: &str) -> Op {
        Op::Exec(ExecOp {
            args: vec![name.into()],
            env: vec![],
            cwd: "/".into(),
            user: String::new(),
            network: Network::Default,
            security: Security::Sandbox,
            mounts: vec![],
        })
    }

    /// A graph from `(name, inputs)` pairs, in order; returns it and the ids.
    fn graph(spec: &[(&str, &[usize])]) -> (BuildGraph, Vec<VertexId>) {
        let mut g = GraphBuilder::new();
        let mut ids = vec![];
        for (name, inputs) in spec {
            let o = if inputs.is_empty() && *name == "src" {
                Op::Source(SourceOp::Scratch)
            } else {
                op(name)
            };
            ids.push(g.add(
                o,
                inputs.iter().map(|i| ids[*i]).collect(),
                *name,
                None,
                None,
            ));
        }
        let graph = BuildGraph {
            vertices: g.into_vertices(),
            stages: vec![],
            target: 0,
            warnings: vec![],
        };
        (graph, ids)
    }

    /// Records calls; concatenates input outputs; sleeps; fails on "fail".
    #[derive(Default)]
    struct Recorder {
        names: Vec<String>,
        running: AtomicUsize,
        max_running: AtomicUsize,
        ran: Mutex<Vec<String>>,
    }

    impl Runner for Recorder {
        type Output = String;
        type Error = String;

        #[allow(clippy::manual_async_fn)] // the trait needs the future to be 'static
        fn run(
            self: Arc<Self>,
            vertex: VertexId,
            inputs: Vec<String>,
            cancel: Cancel,
        ) -> impl Future<Output = Result<String, String>> + Send + 'static {
            async move {
                let name = self.names[vertex.0].clone();
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.max_running.fetch_max(now, Ordering::SeqCst);
                self.ran.lock().unwrap().push(name.clone());
                let out = match name.as_str() {
                    "fail" => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Err("boom".to_string())
                    }
                    "hang" => {
                        cancel.cancelled().await;
                        Err("killed".to_string())
                    }
                    "panic" => panic!("vertex panicked"),
                    _ => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(format!("{name}({})", inputs.join(",")))
                    }
                };
                self.running.fetch_sub(1, Ordering::SeqCst);
                out
            }
        }
    }

    fn recorder(g: &BuildGraph) -> Arc<Recorder> {
        Arc::new(Recorder {
            names: g.vertices.iter().map(|v| v.name.clone()).collect(),
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn independent_vertices_run_concurrently_up_to_the_job_limit() {
        let (g, ids) = graph(&[
            ("src", &[]),
            ("a", &[0]),
            ("b", &[0]),
            ("c", &[0]),
            ("d", &[0]),
            ("final", &[1, 2, 3, 4]),
        ]);
        for (jobs, expected) in [(1, 1), (2, 2), (4, 4)] {
            let r = recorder(&g);
            let out = solve(&g, &[ids[5]], jobs, r.clone(), Cancel::new())
                .await
                .unwrap();
            assert_eq!(out[&ids[5]], "final(a(src()),b(src()),c(src()),d(src()))");
            assert_eq!(
                r.max_running.load(Ordering::SeqCst),
                expected,
                "jobs={jobs}"
            );
        }
    }

    #[tokio::test]
    async fn only_vertices_the_roots_need_are_run() {
        let (g, ids) = graph(&[("src", &[]), ("a", &[0]), ("unused", &[0]), ("b", &[1])]);
        let r = recorder(&g);
        solve(&g, &[ids[3]], 4, r.clone(), Cancel::new())
            .await
            .unwrap();
        let mut ran = r.ran.lock().unwrap().clone();
        ran.sort();
        assert_eq!(ran, ["a", "b", "src"]);
    }

    #[tokio::test]
    async fn first_failure_cancels_running_siblings_and_skips_dependents() {
        let (g, ids) = graph(&[
            ("src", &[]),
            ("fail", &[0]),
            ("hang", &[0]),
            ("after", &[1, 2]),
        ]);
        let r = recorder(&g);
        let cancel = Cancel::new();
        let err = solve(&g, &[ids[3]], 4, r.clone(), cancel.clone())
            .await
            .unwrap_err();
        match err {
            SolveError::Vertex { vertex, error } => {
                assert_eq!((vertex, error.as_str()), (ids[1], "boom"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(cancel.is_cancelled());
        assert!(!r.ran.lock().unwrap().contains(&"after".to_string()));
        assert_eq!(r.running.load(Ordering::SeqCst), 0, "nothing left running");
    }

    #[tokio::test]
    async fn cancel_from_outside_ends_the_build_as_cancelled() {
        let (g, ids) = graph(&[("src", &[]), ("hang", &[0]), ("after", &[1])]);
        let r = recorder(&g);
        let cancel = Cancel::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            c2.cancel();
        });
        let err = solve(&g, &[ids[2]], 2, r, cancel).await.unwrap_err();
        assert!(matches!(err, SolveError::Cancelled), "{err:?}");
    }

    #[tokio::test]
    async fn a_panicking_vertex_is_reported_not_propagated() {
        let (g, ids) = graph(&[("src", &[]), ("panic", &[0])]);
        let err = solve(&g, &[ids[1]], 2, recorder(&g), Cancel::new())
            .await
            .unwrap_err();
        match err {
            SolveError::Panic { vertex, message } => {
                assert_eq!(vertex, ids[1]);
                assert!(message.contains("vertex panicked"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

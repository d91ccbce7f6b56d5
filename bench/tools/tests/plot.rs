//! The latency plot of a real replay: `vitrine replay` against an in-process HTTP server on
//! 127.0.0.1, its report drawn by [`plot::write`], then the same report saved as
//! `vitrine replay --json` writes it and drawn again by `vitrine-bench plot`.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use vitrine::replay::{self, ReplayArgs, Report};
use vitrine_bench::plot::{self, Series};

/// A server that answers every request with 200 "ok".
struct TestServer {
    addr: std::net::SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl TestServer {
    async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let service = service_fn(|_req: hyper::Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"ok",
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestServer { addr, accept }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ReplayArgs,
}

/// Runs a quiet replay with a hard bound on its wall time.
async fn replay(list: &[&str]) -> Report {
    let mut v = vec!["replay", "--quiet"];
    v.extend_from_slice(list);
    let args = Cli::try_parse_from(v).unwrap().args;
    tokio::time::timeout(Duration::from_secs(10), replay::run(args))
        .await
        .expect("replay finished in time")
        .expect("replay ran")
}

const T0: i64 = 1_773_140_400; // 10/Mar/2026:12:00:00 +0100

fn vhost_line(host: &str, method: &str, path: &str, unix: i64) -> String {
    let mut stamp = String::new();
    replay::access_log::format_time(unix, 3600, &mut stamp);
    format!(
        "{host}:443 2a01:cb00:12:34::7 - - [{stamp}] \"{method} {path} HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0 (X11; \\\"Linux\\\")\"\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// What a test looks at in an SVG, read with a real XML parser (so it must be well-formed).
struct Svg {
    /// The text of every `<text>` element.
    texts: Vec<String>,
    /// (stroke colour, number of points) of every `<polyline>`.
    polylines: Vec<(String, usize)>,
}

fn parse_svg(svg: &str) -> Svg {
    use quick_xml::events::{BytesStart, Event};
    use quick_xml::XmlVersion;
    let mut reader = quick_xml::Reader::from_str(svg);
    let attr = |e: &BytesStart<'_>, name: &str| -> String {
        e.try_get_attribute(name)
            .unwrap()
            .map(|a| {
                a.normalized_value(XmlVersion::Implicit1_0)
                    .unwrap()
                    .into_owned()
            })
            .unwrap_or_default()
    };
    let mut out = Svg {
        texts: Vec::new(),
        polylines: Vec::new(),
    };
    let (mut depth, mut in_text, mut root) = (0, false, None);
    loop {
        match reader.read_event().expect("well-formed SVG") {
            Event::Start(e) => {
                let name = e.name().as_ref().to_owned();
                root.get_or_insert_with(|| name.clone());
                depth += 1;
                if name == "text" {
                    in_text = true;
                    out.texts.push(String::new());
                }
            }
            Event::Empty(e) if e.name().as_ref() == "polyline" => {
                let points = attr(&e, "points").split_whitespace().count();
                out.polylines.push((attr(&e, "stroke"), points));
            }
            Event::Text(t) if in_text => {
                out.texts
                    .last_mut()
                    .unwrap()
                    .push_str(t.xml10_content().trim());
            }
            Event::GeneralRef(r) if in_text => {
                let v = quick_xml::escape::resolve_predefined_entity(&r).unwrap();
                out.texts.last_mut().unwrap().push_str(v);
            }
            Event::End(_) => {
                depth -= 1;
                in_text = false;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "every element is closed");
    assert_eq!(root.as_deref(), Some("svg"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plot_draws_every_series_of_the_run_and_the_same_from_the_saved_report() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log: String = (0..300)
        .map(|i| vhost_line("plot.test", "GET", &format!("/{i}"), T0))
        .collect();
    let path = write(dir.path(), "plot.log", &log);
    let svg_path = dir.path().join("latency.svg");
    let report = replay(&[
        path.to_str().unwrap(),
        "--target",
        &server.url(),
        "--rate",
        "150",
        "-c",
        "4",
    ])
    .await;
    plot::write(&report, &svg_path).unwrap();
    assert_eq!(report.responses, 300);
    // Two seconds at 150/s, and maybe the last answers just past the second second.
    let seconds = report.throughput_per_second.len();
    assert!(seconds >= 2, "{seconds} s");
    assert_eq!(report.latency_per_second_ms.len(), seconds);
    let answered_seconds = report.latency_per_second_ms.iter().flatten().count();
    assert!(answered_seconds >= 2);
    for s in report.latency_per_second_ms.iter().flatten() {
        assert!(s.p50 <= s.p99 && s.p99 <= s.max && s.p50 > 0.0, "{s:?}");
    }
    let total_max = report.latency_ms.unwrap().max;
    let per_second_max = report
        .latency_per_second_ms
        .iter()
        .flatten()
        .map(|s| s.max)
        .fold(0.0, f64::max);
    assert_eq!(
        per_second_max, total_max,
        "the run's max is some second's max"
    );

    let text = std::fs::read_to_string(&svg_path).unwrap();
    let svg = parse_svg(&text);
    let has_text = |t: &str| svg.texts.iter().any(|x| x.contains(t));
    for t in [
        "vitrine replay: fixed rate 150 req/s",
        server.url().as_str(),
        "300 requests, 300 answered, 0 failed",
        &report.started_at.replace('T', " ").replace('Z', " UTC"),
        "Latency per second, from the intended send time",
        "Latency distribution of the whole run",
        "90%",
        "99%",
    ] {
        assert!(has_text(t), "no text {t:?} in {:?}", svg.texts);
    }
    let lines = |s: Series| -> Vec<usize> {
        svg.polylines
            .iter()
            .filter(|(stroke, _)| *stroke == s.svg_colour())
            .map(|(_, n)| *n)
            .collect()
    };
    // Each per-second series is a line through each run of consecutive seconds with answers
    // (one run unless the machine stalled for a whole second), then its two-point sample in
    // the legend.
    let mut expected: Vec<usize> = report
        .latency_per_second_ms
        .split(Option::is_none)
        .map(<[_]>::len)
        .filter(|&n| n > 0)
        .collect();
    expected.push(2);
    for s in [Series::P50, Series::P99, Series::Max] {
        assert!(svg.texts.iter().any(|t| t == s.label()), "legend {s:?}");
        assert_eq!(lines(s), expected, "{s:?}");
    }
    assert!(has_text("answers/s"));
    assert_eq!(lines(Series::Answers), [seconds, 2]);
    assert!(lines(Series::Failures).is_empty(), "no failure, no line");
    for (s, dist) in [
        (Series::Latency, &report.latency_distribution_ms),
        (Series::ServiceTime, &report.service_time_distribution_ms),
    ] {
        assert!(dist.len() > 20, "{} points", dist.len());
        assert_eq!(lines(s), [dist.len(), 2], "{s:?}");
        assert!(has_text(&format!("{} (max ", s.label())), "legend {s:?}");
    }

    // `vitrine-bench plot` of the saved report draws the very same picture.
    let json = dir.path().join("report.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    let again = dir.path().join("again.svg");
    vitrine_bench::plot(vitrine_bench::PlotArgs {
        report: json,
        output: again.clone(),
    })
    .unwrap();
    assert_eq!(std::fs::read_to_string(&again).unwrap(), text);
}

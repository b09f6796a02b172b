//! The `facecore` binary run as a user runs it: real images, real models.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

fn facecore(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facecore"))
        .args(args)
        .output()
        .unwrap()
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn detect_prints_api_field_names() {
    let astronaut = fixture("astronaut.png");
    let v = json(&facecore(&[os("detect"), astronaut.as_os_str()]));
    assert_eq!(v["unprocessedFaceCount"], 0);
    let face = &v["faces"][0];
    assert!(face["confidence"].as_f64().unwrap() > 0.9);
    let b = &face["boundingBox"];
    for k in ["x", "y", "width", "height"] {
        assert!(b[k].is_u64(), "{k} must be an integer: {b}");
    }
}

#[test]
fn embed_prints_a_unit_vector_of_512_values() {
    let camera = fixture("camera.png");
    let v = json(&facecore(&[os("embed"), camera.as_os_str()]));
    let e: Vec<f64> = v["faces"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(e.len(), 512);
    let norm = e.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    assert_eq!(v["model"], "fr_feature@0.0.1");
}

#[test]
fn compare_gives_a_calibrated_similarity() {
    let (a, c) = (fixture("astronaut.png"), fixture("camera.png"));
    let same = json(&facecore(&[os("compare"), a.as_os_str(), a.as_os_str()]));
    assert_eq!(same["similarity"], 100);
    assert_eq!(same["calibrated"], true);
    let diff = json(&facecore(&[os("compare"), a.as_os_str(), c.as_os_str()]));
    assert!(diff["similarity"].as_i64().unwrap() < 70, "{diff}");
}

#[test]
fn errors_are_one_line_and_a_failure_exit() {
    let out = facecore(&[os("detect"), os("/nonexistent/photo.jpg")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/photo.jpg"), "{err}");

    let cat = fixture("chelsea.png");
    let out = facecore(&[os("compare"), cat.as_os_str(), cat.as_os_str()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no face detected"));

    let not_image = fixture("README.md");
    let out = facecore(&[os("detect"), not_image.as_os_str()]);
    assert!(!out.status.success());
}

/// A labelled data set in a new directory `dir`: two identities, three
/// images each (variants of the astronaut and camera fixtures: `a0`..`a2`,
/// `c0`..`c2`), and `extra` more `(file, identity)` rows of fixtures copied
/// as they are.
fn labelled_set(dir: &Path, extra: &[(&str, &str)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut labels = String::from("path,identity\n");
    for (name, id) in [("astronaut.png", "a"), ("camera.png", "c")] {
        let img = image::open(fixture(name)).unwrap().to_rgb8();
        let variants = [
            img.clone(),
            image::imageops::flip_horizontal(&img),
            image::imageops::resize(&img, 400, 400, image::imageops::FilterType::Triangle),
        ];
        for (i, v) in variants.iter().enumerate() {
            let file = format!("{id}{i}.png");
            v.save(dir.join(&file)).unwrap();
            labels.push_str(&format!("{file},{id}\n"));
        }
    }
    for (name, id) in extra {
        std::fs::copy(fixture(name), dir.join(name)).unwrap();
        labels.push_str(&format!("{name},{id}\n"));
    }
    std::fs::write(dir.join("labels.csv"), labels).unwrap();
}

#[test]
fn eval_writes_the_report_and_plot() {
    let dir = std::env::temp_dir().join(format!("facecore-cli-eval-{}", std::process::id()));
    // The cat has no (human) face: it is counted, named, and its pairs score -1.
    labelled_set(&dir, &[("chelsea.png", "cat")]);
    let pairs = "a,b,same,fold\n\
                 a0.png,a1.png,1,1\na0.png,c0.png,0,1\n\
                 a1.png,a2.png,1,2\na1.png,c1.png,0,2\n\
                 c0.png,c1.png,1,3\nc2.png,a2.png,0,3\n\
                 c1.png,c2.png,1,4\nchelsea.png,a0.png,0,4\n";
    std::fs::write(dir.join("pairs.csv"), pairs).unwrap();
    let out_dir = dir.join("report");
    let out = facecore(&[
        os("eval"),
        os("--data"),
        dir.as_os_str(),
        os("--out"),
        out_dir.as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let md = std::fs::read_to_string(out_dir.join(format!("{name}.md"))).unwrap();
    assert_eq!(stdout.trim(), md.trim());
    for expected in [
        "# Evaluation of `fr_feature@0.0.1`",
        "7 images, 2 identities; 1 with no face detected (chelsea.png); 0 unreadable.",
        "6 genuine and 9 impostor pairs of the images with a face. ROC AUC 1.0000.",
        "| 1e-3 |",
        "| 70 | 1e-3 |",
        "FPR, 95% upper bound",
        // 4 genuine pairs far above 4 impostor pairs, the cat's at -1.
        "8 pairs (1 with an undetected face, scored -1). ROC AUC 1.0000; \
         10-fold verification accuracy 100.00 % ± 0.00",
        &format!("]({name}.png)"),
        // Two identities cannot be split into enrolled and strangers.
        "## Open-set identification\n\nToo few identities.",
        "95 % intervals, resampling the 2 identities",
        "### Where the AUC is lost",
        "| a0.png | 2 | 1.0000 | (no errata file) |",
    ] {
        assert!(md.contains(expected), "`{expected}` missing from:\n{md}");
    }
    assert!(!md.contains("## Labels corrected"), "{md}");

    // `eval` of the set with one more option naming a file.
    let eval_with = |flag: &str, file: &Path| {
        facecore(&[
            os("eval"),
            os("--data"),
            dir.as_os_str(),
            os(flag),
            file.as_os_str(),
        ])
    };

    // With errata, the figures come once more without the listed photos.
    let errata = dir.join("errata.csv");
    std::fs::write(
        &errata,
        "# a comment\npath,reason\nc2.png,a photo of another person (for the test)\n",
    )
    .unwrap();
    let out = eval_with("--errata", &errata);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "## Labels corrected",
        "`errata.csv` lists 1 row (1 photo) whose label we judge wrong",
        "Without them: 5 photos with a face, 2 identities, 4 genuine and 6 impostor pairs, ROC AUC 1.0000.",
        "| c2.png | 2 | 1.0000 | yes |",
        "| a0.png | 2 | 1.0000 | no |",
    ] {
        assert!(md.contains(expected), "`{expected}` missing from:\n{md}");
    }
    // An errata row naming a photo the labels do not list is refused before
    // anything is embedded.
    std::fs::write(&errata, "path,reason\nnobody.png,stale\n").unwrap();
    let out = eval_with("--errata", &errata);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("errata.csv: a row names photos that")
            && err.contains("nobody.png")
            && !err.contains("to embed"),
        "{err}"
    );
    let plot = image::open(out_dir.join(format!("{name}.png"))).unwrap();
    assert!(plot.width() >= 400 && plot.height() >= 200);

    // A pairs file naming an image that is not in labels.csv is refused.
    let bad = dir.join("bad-pairs.csv");
    std::fs::write(&bad, "a,b,same\na0.png,nobody.png,0\n").unwrap();
    let out = eval_with("--pairs", &bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nobody.png") && err.contains("labels.csv"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn calibrate_measures_thresholds_and_writes_the_manifest() {
    let dir = std::env::temp_dir().join(format!("facecore-cli-cal-{}", std::process::id()));
    labelled_set(&dir, &[]);
    let cache = dir.join("cache.jsonl");
    let calibrate_with = |extra: &[&std::ffi::OsStr]| {
        let mut args = vec![
            os("calibrate"),
            os("--data"),
            dir.as_os_str(),
            os("--cache"),
            cache.as_os_str(),
        ];
        args.extend_from_slice(extra);
        facecore(&args)
    };
    let calibrate = || calibrate_with(&[]);
    let out = calibrate();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // 6 same-identity and 9 different-identity pairs; far too few impostors
    // for the rates, which the report says.
    assert!(
        stdout.contains("6 genuine and 9 impostor pairs"),
        "{stdout}"
    );
    assert!(stdout.contains("no: only"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&cache).unwrap().lines().count(), 6);
    // A rerun embeds nothing new.
    let again = calibrate();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("6 cached, 0 to embed"), "{stderr}");
    assert!(!stderr.contains("another pipeline"), "{stderr}");
    // A cache whose embeddings this pipeline does not reproduce (here one
    // vector turned, as a change to alignment would) is noticed and rebuilt.
    let text = std::fs::read_to_string(&cache).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let vector = lines[4]["vector"].as_array_mut().unwrap();
    vector.rotate_left(1);
    let turned = vector.clone();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&cache, text).unwrap();
    let rebuilt = calibrate();
    let stderr = String::from_utf8_lossy(&rebuilt.stderr);
    assert!(rebuilt.status.success(), "{stderr}");
    assert!(stderr.contains("made by another pipeline"), "{stderr}");
    assert!(stderr.contains("0 cached, 6 to embed"), "{stderr}");
    assert_eq!(stdout, String::from_utf8_lossy(&rebuilt.stdout));
    let text = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert!(text.lines().all(|l| {
        let line: serde_json::Value = serde_json::from_str(l).unwrap();
        line["vector"].as_array() != Some(&turned)
    }));
    // With a confidence: every rate's bound is stated, and 9 impostor pairs
    // cannot bound even 1e-3 (no match among 9 allows 28% at 95%).
    let run = |confidence: &str| calibrate_with(&[os("--confidence"), os(confidence)]);
    let sure = run("0.95");
    let stdout = String::from_utf8_lossy(&sure.stdout);
    assert!(
        sure.status.success(),
        "{}",
        String::from_utf8_lossy(&sure.stderr)
    );
    assert!(stdout.contains("upper bound at 95% confidence"), "{stdout}");
    assert!(stdout.contains("| 2.83e-1 |"), "{stdout}");
    assert_eq!(
        stdout.matches("no: even no match among 9").count(),
        4,
        "{stdout}"
    );
    for bad in ["1.5", "0", "-0.2", "ninety"] {
        let out = run(bad);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not a confidence"), "{bad}: {err}");
    }
    // Too few impostor pairs to write a calibration: refused, file untouched.
    let manifest = dir.join("manifest.json");
    std::fs::copy(fixture("../models/manifest.json"), &manifest).unwrap();
    let before = std::fs::read(&manifest).unwrap();
    let out = calibrate_with(&[os("--write-manifest"), manifest.as_os_str()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("too few impostor pairs"));
    assert_eq!(std::fs::read(&manifest).unwrap(), before);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn keys_and_accounts_work_on_the_data_file_without_a_server() {
    let dir = std::env::temp_dir().join(format!("facecore-cli-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let text = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let err = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    // Nothing to list before the data file exists: a clear error.
    let out = facecore(&[os("keys"), os("list"), os("--data-dir"), os(&data)]);
    assert!(!out.status.success());
    assert!(err(&out).contains("no data file"), "{}", err(&out));

    let out = facecore(&[
        os("keys"),
        os("create"),
        os("--account"),
        os("acme"),
        os("--label"),
        os("ci"),
        os("--data-dir"),
        os(&data),
    ]);
    assert!(out.status.success(), "{}", err(&out));
    let key = text(&out)
        .split_whitespace()
        .find(|w| w.starts_with("fc_") && w.len() > 40)
        .expect("the key is printed")
        .to_string();
    let id = key[3..15].to_string();

    let out = facecore(&[os("keys"), os("list"), os("--data-dir"), os(&data)]);
    assert!(out.status.success(), "{}", err(&out));
    assert!(text(&out).contains(&id) && text(&out).contains("acme") && text(&out).contains("ci"));
    assert!(!text(&out).contains(&key), "secrets are never listed");

    let out = facecore(&[
        os("keys"),
        os("revoke"),
        os(&id),
        os("--data-dir"),
        os(&data),
    ]);
    assert!(out.status.success(), "{}", err(&out));
    let out = facecore(&[
        os("accounts"),
        os("disable"),
        os("acme"),
        os("--data-dir"),
        os(&data),
    ]);
    assert!(text(&out).contains("disabled"), "{}", text(&out));
    let out = facecore(&[os("accounts"), os("list"), os("--data-dir"), os(&data)]);
    assert!(
        text(&out).contains("acme") && text(&out).contains("disabled"),
        "{}",
        text(&out)
    );

    // Bad names are refused with the rule.
    let out = facecore(&[
        os("keys"),
        os("create"),
        os("--account"),
        os("no spaces"),
        os("--data-dir"),
        os(&data),
    ]);
    assert!(!out.status.success());
    assert!(err(&out).contains("A-Z a-z 0-9"), "{}", err(&out));
    let out = facecore(&[
        os("accounts"),
        os("enable"),
        os("nobody"),
        os("--data-dir"),
        os(&data),
    ]);
    assert!(!out.status.success());
    assert!(err(&out).contains("does not exist"), "{}", err(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn services_are_created_listed_and_deleted_on_the_data_file() {
    let dir = std::env::temp_dir().join(format!("facecore-cli-services-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let text = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let err = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let create = |kind: &str, name: &str| {
        facecore(&[
            os("services"),
            os("create"),
            os("--account"),
            os("acme"),
            os("--type"),
            os(kind),
            os("--name"),
            os(name),
            os("--data-dir"),
            os(&data),
        ])
    };
    let out = create("recognition", "office");
    assert!(out.status.success(), "{}", err(&out));
    assert!(text(&out).contains("x-api-key") && text(&out).contains("new collection 'office'"));
    let key = text(&out)
        .split_whitespace()
        .find(|w| w.starts_with("fc_") && w.len() > 40)
        .expect("the key is printed")
        .to_string();
    let out = create("detection", "cams");
    assert!(out.status.success(), "{}", err(&out));
    let out = create("admin", "x");
    assert!(!out.status.success());
    assert!(
        err(&out).contains("recognition, detection or verification"),
        "{}",
        err(&out)
    );

    let out = facecore(&[os("services"), os("list"), os("--data-dir"), os(&data)]);
    assert!(out.status.success(), "{}", err(&out));
    let listed = text(&out);
    assert!(listed.contains("office") && listed.contains("detection") && listed.contains("cams"));
    assert!(!listed.contains(&key), "secrets are never listed");

    let out = facecore(&[
        os("services"),
        os("delete"),
        os("office"),
        os("--account"),
        os("acme"),
        os("--data-dir"),
        os(&data),
    ]);
    assert!(out.status.success(), "{}", err(&out));
    assert!(
        text(&out).contains("collection 'office' was deleted"),
        "{}",
        text(&out)
    );
    let store = facecore::store::Store::open(data.join("facecore.redb")).unwrap();
    assert!(store.authenticate_identity(&key).is_err());
    assert!(store.collection("acme", "office").unwrap().is_none());
    assert_eq!(store.list_services(None).unwrap().len(), 1);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keys_go_through_the_admin_socket_while_the_data_file_is_held() {
    use std::io::{BufRead, BufReader, Write};
    let dir = std::env::temp_dir().join(format!("facecore-cli-socket-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Stand in for a running server: hold the data file open (so the CLI
    // cannot open it itself) and answer the admin socket with the store's
    // own handler, as the server does.
    let store = facecore::store::Store::open(dir.join("facecore.redb")).unwrap();
    let listener =
        std::os::unix::net::UnixListener::bind(dir.join(facecore::store::admin::SOCKET_NAME))
            .unwrap();
    let server = std::thread::spawn(move || {
        let mut served = 0;
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            let answer = facecore::store::admin::handle_line(&store, line.trim());
            writeln!(stream, "{}", serde_json::to_string(&answer).unwrap()).unwrap();
            served += 1;
        }
        (served, store)
    });
    let out = facecore(&[
        os("keys"),
        os("create"),
        os("--account"),
        os("acme"),
        os("--data-dir"),
        os(&dir),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = facecore(&[
        os("accounts"),
        os("delete"),
        os("nobody"),
        os("--data-dir"),
        os(&dir),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let (served, store) = server.join().unwrap();
    assert_eq!(served, 2);
    assert_eq!(store.list_keys(Some("acme")).unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn collections_index_and_search_on_the_data_file() {
    let dir = std::env::temp_dir().join(format!("facecore-cli-collections-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let run = |args: &[&std::ffi::OsStr]| {
        let mut all: Vec<&std::ffi::OsStr> = args.to_vec();
        all.extend([os("--data-dir"), os(&data)]);
        facecore(&all)
    };
    let out = run(&[
        os("collections"),
        os("create"),
        os("staff"),
        os("--description"),
        os("people"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["collectionId"], "staff");
    let out = run(&[os("collections"), os("create"), os("staff")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // Index the fixtures directory: two faces, a cat; README.md is not an image.
    let fixtures = fixture("astronaut.png").parent().unwrap().to_path_buf();
    let out = run(&[os("index"), os("--collection"), os("staff"), os(&fixtures)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = json(&out);
    assert_eq!(summary["files"], 3, "{summary}");
    assert_eq!(summary["indexed"], 2, "{summary}");
    assert_eq!(summary["noFace"], 1, "{summary}");
    // Throughput and peak memory are reported (loading the models alone
    // takes more than 10 MB; nothing here should need a gigabyte).
    assert!(
        summary["filesPerSecond"].as_f64().expect("rate") > 0.0,
        "{summary}"
    );
    let peak = summary["peakRssMb"].as_f64().expect("peak RSS on Linux");
    assert!((10.0..1024.0).contains(&peak), "{summary}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("files/s"),
        "progress is shown"
    );
    // Re-running resumes: nothing is indexed twice.
    let out = run(&[os("index"), os("--collection"), os("staff"), os(&fixtures)]);
    let summary = json(&out);
    assert_eq!(summary["indexed"], 0, "{summary}");
    assert_eq!(summary["alreadyIndexed"], 2, "{summary}");
    let out = run(&[os("collections"), os("get"), os("staff")]);
    assert_eq!(json(&out)["faceCount"], 2);

    let out = run(&[
        os("search"),
        os("--collection"),
        os("staff"),
        os(&fixture("astronaut.png")),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = json(&out);
    assert_eq!(found["similarity"], 100, "{found}");
    assert!(found["faceId"].as_str().unwrap().starts_with("face_"));
    let out = run(&[
        os("search"),
        os("--collection"),
        os("nobody"),
        os(&fixture("astronaut.png")),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));

    // While another process holds the data file, the CLI says what to do.
    {
        let _held = facecore::store::Store::open(data.join("facecore.redb")).unwrap();
        let out = run(&[os("collections"), os("list")]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("server is running"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run(&[os("collections"), os("delete"), os("staff")]);
    assert_eq!(json(&out)["deleted"], true);
    let out = run(&[os("collections"), os("list")]);
    assert_eq!(json(&out)["collections"], serde_json::json!([]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_runs_the_server_binary_beside_it_or_says_how_to_build_it() {
    let server = Path::new(env!("CARGO_BIN_EXE_facecore")).with_file_name("facecore-server");
    let out = facecore(&[
        os("serve"),
        os("--print-config"),
        os("--bind"),
        os("0.0.0.0:9876"),
    ]);
    if server.exists() {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("0.0.0.0:9876"));
    } else {
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("cargo build --release -p facecore-server")
        );
    }
}

/// `facecore models` lists every set of the manifest as JSON lines; a
/// non-commercial set that is not installed names its install command, and
/// asking for it without its terms accepted is refused with that command.
#[test]
fn models_lists_the_sets_and_a_non_commercial_set_needs_acceptance() {
    let empty = tempfile::tempdir().expect("temp");
    let models = std::env::var_os("FACECORE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models")));
    // A models directory with the default set's files but no acceptance.
    for entry in std::fs::read_dir(&models).expect("models dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "onnx") {
            std::os::unix::fs::symlink(&path, empty.path().join(path.file_name().expect("name")))
                .expect("link");
        }
    }
    let out = facecore(&[os("--models"), empty.path().as_os_str(), os("models")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines[0]["name"], "default");
    assert_eq!(lines[0]["loaded"], true);
    let buffalo = lines
        .iter()
        .find(|s| s["name"] == "buffalo_s")
        .expect("buffalo_s");
    assert_eq!(buffalo["loaded"], false, "not accepted here: {buffalo}");
    assert_eq!(buffalo["commercial_use"], false);

    let out = facecore(&[
        os("--models"),
        empty.path().as_os_str(),
        os("--model-set"),
        os("buffalo_s"),
        os("detect"),
        fixture("astronaut.png").as_os_str(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("non-commercial") && err.contains("--accept-model-licence"),
        "{err}"
    );
}

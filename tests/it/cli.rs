//! The two binaries as a person uses them: `archived` configured only by
//! environment variables, `archivectl` importing, listing, fetching and
//! signing against it.

use crate::common;

use common::{Archived, Stack, TestServer, fixture, sha256_hex, spawn_archived};
use std::{path::Path, process::Command};

/// archivectl in `dir`, with no config file but the one a test writes
/// under `dir/config/archivectl/`.
pub(crate) fn archivectl_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_archivectl"));
    command.current_dir(dir).env("XDG_CONFIG_HOME", dir.join("config"));
    for name in ["ARCHIVE_SERVER", "ARCHIVE_TOKEN", "ARCHIVE_CA_FILE", "ARCHIVECTL_CONFIG", "ARCHIVE_CONFIG"] {
        command.env_remove(name);
    }
    command
}

fn archivectl(server: &Archived, dir: &Path, args: &[&str]) -> String {
    let output =
        archivectl_command(dir).env("ARCHIVE_SERVER", &server.grpc).args(args).output().expect("archivectl runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert!(
        output.status.success(),
        "archivectl {args:?} failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn archivectl_imports_lists_gets_and_signs_against_archived() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"), ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")];
    let server = spawn_archived(dir.path(), &ports);
    let clips = dir.path().join("clips");
    std::fs::create_dir(&clips).unwrap();
    let clip = fixture("clip-faststart.mp4");
    std::fs::write(clips.join("93019_OHAI1.mp4"), &clip).unwrap();
    let export =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/article-2019-09-30-giao-ban-truc-tuyen.txt");

    let imported =
        archivectl(&server, dir.path(), &["import", export.to_str().unwrap(), "--media", "clips", "--id", "giao-ban"]);
    assert!(imported.contains("imported articles/giao-ban"), "{imported}");
    let media =
        imported.lines().find_map(|l| l.strip_prefix("clip 93019_OHAI1.mp4 → ")).expect("clip uploaded").to_owned();

    let listed = archivectl(&server, dir.path(), &["ls", "--since", "2019-09-30", "--until", "2019-10-01"]);
    assert!(listed.contains("articles/giao-ban\t2019-09-30T17:20:59+07:00\tGiao ban trực tuyến"), "{listed}");
    assert!(archivectl(&server, dir.path(), &["ls", "--since", "2019-10-01"]).trim().is_empty());

    let shown = archivectl(&server, dir.path(), &["get", "articles/giao-ban"]);
    assert!(shown.contains("author:    Phạm Ngọc"), "{shown}");
    assert!(shown.contains(&format!("clip:      93019_OHAI1.mp4 → {media}")), "{shown}");
    assert!(shown.contains("\nVideo: 93019_OHAI1.mp4\n"));

    archivectl(&server, dir.path(), &["get", &media, "-o", "back.mp4"]);
    assert_eq!(sha256_hex(&std::fs::read(dir.path().join("back.mp4")).unwrap()), sha256_hex(&clip));

    let put = archivectl(&server, dir.path(), &["put", "clips/93019_OHAI1.mp4", "--attach", "articles/giao-ban"]);
    assert!(put.contains(&sha256_hex(&clip)) && put.contains("attached to articles/giao-ban"), "{put}");

    let url = archivectl(&server, dir.path(), &["url", &media, "--ttl", "300"]);
    assert!(url.trim().starts_with("http://127.0.0.1:"), "{url}");
    let fetched = Command::new("curl").args(["-sf", "-r", "10-19", url.trim()]).output().expect("curl runs");
    assert!(fetched.status.success());
    assert_eq!(fetched.stdout, clip[10..20], "curl -r gets the range");

    // Caption tracks: a fault is named by its line; a good file is listed
    // and its URL, on the playback answer's stderr, serves WebVTT.
    let captions = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captions/vi-bom-crlf.srt");
    std::fs::write(dir.path().join("bad.vtt"), "WEBVTT\n\n00:00:03.000 --> 00:00:02.000\nhi\n").unwrap();
    let refused = archivectl_command(dir.path())
        .env("ARCHIVE_SERVER", &server.grpc)
        .args(["captions", "add", &media, "bad.vtt", "--lang", "vi"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("line 3"), "{stderr}");
    let added = archivectl(
        &server,
        dir.path(),
        &[
            "captions",
            "add",
            &media,
            captions.to_str().unwrap(),
            "--lang",
            "vi",
            "--kind",
            "captions",
            "--label",
            "Tiếng Việt",
        ],
    );
    let track = format!("{media}/captions/vi");
    assert!(added.starts_with(&format!("{track}\tvi\tcaptions\tTiếng Việt\t3 cues to 60:00\tsrt ")), "{added}");
    assert_eq!(archivectl(&server, dir.path(), &["captions", "ls", &media]), added);
    let answer =
        archivectl_command(dir.path()).env("ARCHIVE_SERVER", &server.grpc).args(["url", &media]).output().unwrap();
    let aside = String::from_utf8_lossy(&answer.stderr);
    let track_url = aside
        .lines()
        .find_map(|line| line.strip_prefix(&format!("track vi ({track}, Tiếng Việt): ")))
        .unwrap_or_else(|| panic!("{aside}"));
    let served = Command::new("curl").args(["-sf", track_url]).output().expect("curl runs");
    assert!(String::from_utf8_lossy(&served.stdout).starts_with("WEBVTT\n\n1\n00:00:01.200 --> "));
    // A clip's pictures: a thumbnail saved, a poster set.
    archivectl(&server, dir.path(), &["thumb", &media, "--at", "1.5", "--width", "160", "-o", "t.jpg"]);
    let saved = std::fs::read(dir.path().join("t.jpg")).unwrap();
    assert_eq!(&saved[..3], b"\xff\xd8\xff", "a JPEG");
    let poster = archivectl(&server, dir.path(), &["poster", &media, "--at", "2"]);
    assert!(poster.starts_with("poster: the frame at 2.000 s, image/jpeg "), "{poster}");
    let removed = archivectl(&server, dir.path(), &["captions", "rm", &track]);
    assert_eq!(removed.trim(), format!("deleted {track}"));
    assert!(archivectl(&server, dir.path(), &["captions", "ls", &media]).is_empty());

    let clips = archivectl(&server, dir.path(), &["media", "--limit", "5"]);
    let rows: Vec<&str> = clips.lines().collect();
    assert_eq!(rows.len(), 2, "the imported clip and the put copy: {clips}");
    assert!(rows[1].starts_with(&format!("{media}\t2")), "{clips}");
    assert!(rows.iter().all(|row| row.contains(&format!("\t{}\tvideo/mp4\t93019_OHAI1.mp4", clip.len()))), "{clips}");
    let stats = archivectl(&server, dir.path(), &["stats"]);
    for line in [
        "articles:       1\n",
        "clips:          2\n",
        &format!("stored bytes:   {} ", clip.len()),
        "last audit:     none\n",
    ] {
        assert!(stats.contains(line), "{line:?} in {stats}");
    }

    // The put copy replaced the imported clip in the article; it shares its bytes.
    let copy = rows[0].split('\t').next().unwrap().to_owned();
    let removed = archivectl(&server, dir.path(), &["rm", &media]);
    assert_eq!(removed, format!("deleted {media} (its bytes stay: another clip shares them)\n"));
    let removed = archivectl(&server, dir.path(), &["rm", &copy, "--force"]);
    assert_eq!(removed, format!("detached from articles/giao-ban\ndeleted {copy} and its bytes\n"));
    assert!(archivectl(&server, dir.path(), &["media"]).trim().is_empty(), "no clip left");

    assert!(dir.path().join("data/archive.db").exists(), "metadata under ./data by default");
    assert!(dir.path().join("data/blobs/media").is_dir(), "blobs under ./data by default");

    // A one-time upload URL, used by curl speaking tus: the clip is stored and attached.
    let size = clip.len().to_string();
    let minted = archivectl(&server, dir.path(), &["upload-url", "--max-size", &size, "--attach", "articles/giao-ban"]);
    let upload_url = minted.trim();
    let curl = |args: &[&str]| {
        let output = Command::new("curl")
            .args(["-sf", "-D", "-", "-o", "/dev/null", "-H", "Tus-Resumable: 1.0.0"])
            .args(args)
            .arg(upload_url)
            .output()
            .expect("curl runs");
        assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().to_ascii_lowercase()
    };
    let metadata = "Upload-Metadata: filename cGhvbmctc3UubXA0,filetype dmlkZW8vbXA0"; // phong-su.mp4, video/mp4
    curl(&["-X", "POST", "-H", &format!("Upload-Length: {size}"), "-H", metadata]);
    let patched = curl(&[
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/offset+octet-stream",
        "-H",
        "Upload-Offset: 0",
        "--data-binary",
        &format!("@{}", dir.path().join("clips/93019_OHAI1.mp4").display()),
    ]);
    assert!(patched.contains(&format!("upload-offset: {size}")), "{patched}");
    let uploaded = patched.lines().find_map(|l| l.strip_prefix("archive-media: ")).expect("the clip").trim().to_owned();
    let shown = archivectl(&server, dir.path(), &["get", "articles/giao-ban"]);
    assert!(shown.contains(&format!("phong-su.mp4 → {uploaded}")), "{shown}");
}

/// `archivectl --output json ARGS`: exit code, stdout parsed, stderr.
fn archivectl_json(server: &Archived, dir: &Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    archivectl_json_at(&server.grpc, dir, args)
}

/// [`archivectl_json`] against the server at `grpc` (`http://HOST:PORT`).
fn archivectl_json_at(grpc: &str, dir: &Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    let output = archivectl_command(dir)
        .env("ARCHIVE_SERVER", grpc)
        .args(["--output", "json"])
        .args(args)
        .output()
        .expect("archivectl runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = std::str::from_utf8(&output.stdout).expect("UTF-8");
    let value = if stdout.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("archivectl {args:?}: {e}: {stdout:?} {stderr}"))
    };
    (output.status.code().expect("exited"), value, stderr)
}

/// Every command's `--output json`, parsed; a script's view of archivectl.
#[test]
fn archivectl_output_json_is_one_document_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"), ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")];
    let server = spawn_archived(dir.path(), &ports);
    let ok = |args: &[&str]| {
        let (code, value, stderr) = archivectl_json(&server, dir.path(), args);
        assert_eq!(code, 0, "archivectl {args:?}: {value} {stderr}");
        value
    };
    // A directory of two exports with their clip beside them.
    let exports = dir.path().join("exports");
    std::fs::create_dir(&exports).unwrap();
    let export = fixture("article-2019-09-30-giao-ban-truc-tuyen.txt");
    let clip = fixture("clip-faststart.mp4");
    std::fs::write(exports.join("a.txt"), &export).unwrap();
    let second = String::from_utf8(export.clone()).unwrap().replacen("Giao ban trực tuyến", "Hội nghị trực tuyến", 1);
    std::fs::write(exports.join("b.txt"), second).unwrap();
    std::fs::write(exports.join("93019_OHAI1.mp4"), &clip).unwrap();

    let imported = ok(&["import", "exports"]);
    let files = imported["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{imported}");
    assert!(files[0]["file"].as_str().unwrap().ends_with("a.txt"), "{imported}");
    assert_eq!(files[1]["title"], "Hội nghị trực tuyến Toàn quốc về công tác tổ chức xây dựng Đảng 9 tháng 2019");
    for file in files {
        assert!(file.get("error").is_none(), "{file}");
        assert_eq!(file["clips"][0]["reference"], "93019_OHAI1.mp4");
        assert_eq!(file["clips"][0]["media"]["sha256"], sha256_hex(&clip), "proto3 JSON names: {file}");
    }
    let article = files[0]["article"].as_str().unwrap().to_owned();
    let media = files[0]["clips"][0]["media"]["name"].as_str().unwrap().to_owned();

    // One bad file among good ones: the others are imported, the bad one is
    // reported, and the exit code says so.
    std::fs::write(dir.path().join("broken.txt"), "not an export").unwrap();
    let (code, partial, stderr) =
        archivectl_json(&server, dir.path(), &["import", "exports/a.txt", "broken.txt", "--media", "exports"]);
    assert_eq!(code, 1, "{partial} {stderr}");
    assert!(partial["files"][0].get("error").is_none(), "{partial}");
    assert_eq!(partial["files"][1]["error"]["code"], "INVALID_ARGUMENT", "{partial}");
    let summary: serde_json::Value = serde_json::from_str(stderr.trim()).expect("the error is JSON too");
    assert_eq!(summary["error"]["message"], "1 of 2 files failed", "{summary}");

    let listed = ok(&["ls"]);
    assert_eq!(listed["articles"].as_array().unwrap().len(), 3, "{listed}");
    assert_eq!(listed["articles"][0]["publishTime"], "2019-09-30T10:20:59+00:00", "{listed}");

    let found = ok(&["search", "sinh", "hoat", "chi", "bo", "--limit", "2"]);
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{found}");
    let (snippet, highlight) = (results[0]["snippet"].as_str().unwrap(), &results[0]["highlights"][0]);
    let (start, end) = (highlight["start"].as_u64().unwrap() as usize, highlight["end"].as_u64().unwrap() as usize);
    assert!(["sinh", "hoạt", "chi", "bộ"].contains(&&snippet[start..end]), "{found}");

    let shown = ok(&["get", &article]);
    assert_eq!(shown["name"], article);
    assert_eq!(shown["author"], "Phạm Ngọc");
    assert_eq!(shown["viewCount"], "89", "int64 is a string in proto3 JSON");
    assert!(shown["body"].as_str().unwrap().contains("\nVideo: 93019_OHAI1.mp4\n"), "{shown}");

    let saved = ok(&["get", &media, "-o", "back.mp4"]);
    assert_eq!(saved["bytesWritten"], clip.len(), "{saved}");
    assert_eq!(std::fs::read(dir.path().join("back.mp4")).unwrap(), clip);
    let (code, _, stderr) = archivectl_json(&server, dir.path(), &["get", &media, "-o", "-"]);
    assert_eq!(code, 2, "the clip and the JSON cannot share stdout: {stderr}");

    let put = ok(&["put", "exports/93019_OHAI1.mp4", "--attach", &article]);
    assert_eq!((&put["media"]["sha256"], &put["attachedTo"]), (&sha256_hex(&clip).into(), &article.clone().into()));

    let url = ok(&["url", &media, "--ttl", "300"]);
    assert!(url["url"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{url}");
    let expires = chrono::DateTime::parse_from_rfc3339(url["expireTime"].as_str().unwrap()).expect("RFC 3339");
    let ttl = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((250..=300).contains(&ttl), "expires in {ttl} s: {url}");
    assert_eq!(url["contentType"], "video/mp4");

    let clips = ok(&["media"]);
    assert_eq!(clips["media"].as_array().unwrap().len(), 4, "{clips}");
    let stats = ok(&["stats"]);
    assert_eq!((&stats["articleCount"], &stats["mediaCount"]), (&"3".into(), &"4".into()), "{stats}");

    let removed = ok(&["rm", put["media"]["name"].as_str().unwrap(), "--force"]);
    assert_eq!(removed["detachedArticles"], serde_json::json!([article]), "{removed}");
    assert_eq!(removed["objectsDeleted"], false, "three other clips share the bytes: {removed}");

    let token = ok(&["token", "new", "--name", "cms", "--scopes", "read,write"]);
    let secret = token["token"].as_str().unwrap();
    assert!(secret.starts_with("arc_") && token["scopes"] == serde_json::json!(["read", "write"]), "{token}");
    assert!(token["fileEntry"].as_str().unwrap().contains(&sha256_hex(secret.as_bytes())), "{token}");

    let (code, missing, stderr) = archivectl_json(&server, dir.path(), &["get", "articles/khong-co"]);
    assert_eq!((code, missing), (3, serde_json::Value::Null), "nothing on stdout: {stderr}");
    let error: serde_json::Value = serde_json::from_str(stderr.trim()).expect("JSON on stderr");
    assert_eq!((&error["error"]["code"], &error["error"]["exit"]), (&"NOT_FOUND".into(), &3.into()), "{error}");

    // reindex reads archived's configuration: the same bucket, a new database.
    let (code, reindexed, stderr) = {
        let output = archivectl_command(dir.path())
            .env("ARCHIVE__METADATA__URL", "sqlite://./data/reindexed.db")
            .args(["--output", "json", "reindex"])
            .output()
            .unwrap();
        (output.status.code(), serde_json::from_slice::<serde_json::Value>(&output.stdout), output.stderr)
    };
    let reindexed = reindexed.unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&stderr)));
    assert_eq!((code, &reindexed["articles"], &reindexed["media"]), (Some(0), &3.into(), &3.into()), "{reindexed}");
}

/// `search` with the query syntax typed as a person types it (a quoted
/// phrase, a `-word`, flags after the words), an order and a facet, and
/// `related`, against an in-process server on the embedded stack. A search
/// right after the writes sees them (it waits for this replica's own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archivectl_searches_with_the_syntax_and_lists_related_articles() {
    use archive::proto::v1 as pb;
    let server = TestServer::start(Stack::Embedded).await;
    let articles = [
        (
            "thai-binh",
            "Sinh hoạt chi bộ ở Thái Bình",
            "Thứ 2, 30.09.2019 | 17:20:59",
            "Phạm Ngọc",
            "Tỉnh Thái Bình duy trì nề nếp sinh hoạt chi bộ vào ngày mùng 3 hàng tháng.",
        ),
        (
            "thuy-son",
            "Chi bộ Thuỵ Sơn sinh hoạt chuyên đề",
            "Thứ 4, 01.01.2020 | 08:00:00",
            "Thu Trang",
            "Nhiều chi bộ đã chủ động lựa chọn chuyên đề sinh hoạt phù hợp.",
        ),
        (
            "nong-thon",
            "Nông thôn mới ở Quỳnh Phụ",
            "Thứ 2, 01.03.2021 | 08:00:00",
            "Phạm Ngọc",
            "Các chi bộ sinh hoạt định kỳ, bàn việc xây dựng nông thôn mới.",
        ),
        (
            "giao-thong",
            "Đường giao thông nông thôn",
            "Thứ 7, 05.10.2019 | 23:59:59",
            "Thu Trang",
            "Đường giao thông được mở rộng; người dân phấn khởi đón mùa lúa mới.",
        ),
    ];
    for (id, title, published, author, body) in articles {
        let export_text = format!("{title}\n\n{published}\n0 lượt xem\n\n{body}\n\n {author}\n");
        let request = pb::ImportArticleRequest {
            export_text: export_text.into(),
            article_id: id.into(),
            request_id: String::new(),
        };
        server.articles().import_article(request).await.expect("imports");
    }
    let grpc = format!("http://{}", server.grpc_addr);
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().to_owned();
    // Each run twice: `--output json`, then as text.
    let run = move |args: &[&str]| {
        let (grpc, dir) = (grpc.clone(), dir.clone());
        let args: Vec<String> = args.iter().map(|&arg| arg.to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, value, stderr) = archivectl_json_at(&grpc, &dir, &args);
            (code, value, stderr, archivectl_command(&dir).env("ARCHIVE_SERVER", &grpc).args(&args).output().unwrap())
        })
    };
    let names = |value: &serde_json::Value| -> Vec<String> {
        let results = value["results"].as_array().unwrap_or_else(|| panic!("results: {value}"));
        results.iter().map(|result| result["article"]["name"].as_str().unwrap().to_owned()).collect()
    };

    // archivectl search '"chi bộ"' -Thái --order newest --facets author
    let search = ["search", "\"chi bộ\"", "-Thái", "--order", "newest", "--facets", "author", "--limit", "5"];
    let (code, found, stderr, text) = run(&search).await.unwrap();
    assert_eq!(code, 0, "{found} {stderr}");
    assert_eq!(
        names(&found),
        ["articles/nong-thon", "articles/thuy-son"],
        "the phrase, not Thái, newest first: {found}"
    );
    assert_eq!((&found["totalSize"], &found["totalSizeIsLowerBound"]), (&"2".into(), &false.into()), "{found}");
    let highlight = &found["results"][1]["titleHighlights"][0];
    let (start, end) = (highlight["start"].as_u64().unwrap() as usize, highlight["end"].as_u64().unwrap() as usize);
    assert_eq!(&"Chi bộ Thuỵ Sơn sinh hoạt chuyên đề"[start..end], "Chi bộ", "{found}");
    let facet = &found["facets"][0];
    assert_eq!((&facet["facet"], &facet["otherCount"]), (&"SEARCH_FACET_AUTHOR".into(), &"0".into()), "{found}");
    let mut authors: Vec<(String, String)> = facet["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| (value["value"].as_str().unwrap().to_owned(), value["count"].as_str().unwrap().to_owned()))
        .collect();
    authors.sort();
    assert_eq!(authors, [("Phạm Ngọc".to_owned(), "1".to_owned()), ("Thu Trang".to_owned(), "1".to_owned())]);
    // The same, for a person (styles stripped: stdout is a pipe).
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with("2 matches\n1. Nông thôn mới ở Quỳnh Phụ  articles/nong-thon  2021-03-01T08:00:00+07:00\n"),
        "{text}"
    );
    assert!(text.contains("\n2. Chi bộ Thuỵ Sơn sinh hoạt chuyên đề  articles/thuy-son  "), "{text}");
    assert!(
        text.contains("\n\nauthor\n") && text.contains("\n  Phạm Ngọc  1\n") && text.contains("\n  Thu Trang  1\n"),
        "{text}"
    );

    let (code, related, stderr, text) = run(&["related", "articles/thai-binh"]).await.unwrap();
    assert_eq!(code, 0, "{related} {stderr}");
    let mut alike = names(&related);
    alike.sort();
    assert_eq!(alike, ["articles/nong-thon", "articles/thuy-son"], "those that share its words, not itself: {related}");
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("1. ") && text.contains("articles/thuy-son") && !text.contains("matches"), "{text}");
    let (code, related, stderr, _) =
        run(&["related", "articles/thai-binh", "--author", "Phạm Ngọc", "--limit", "3"]).await.unwrap();
    assert_eq!((code, names(&related)), (0, vec!["articles/nong-thon".to_owned()]), "{related} {stderr}");
    let (code, _, stderr, _) = run(&["related", "articles/khong-co"]).await.unwrap();
    assert_eq!(code, 3, "{stderr}");
}

/// The config file stands in for flags; completions are scripts a shell
/// accepts.
#[test]
fn archivectl_reads_its_config_file_and_prints_completions() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"), ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")];
    let server = spawn_archived(dir.path(), &ports);
    let without = archivectl_command(dir.path()).args(["stats"]).output().unwrap();
    assert_eq!(without.status.code(), Some(6), "the default server is not running here");
    let config = dir.path().join("config/archivectl");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), format!("server = \"{}\"\n", server.grpc)).unwrap();
    let with = archivectl_command(dir.path()).args(["stats"]).output().unwrap();
    assert!(with.status.success(), "{}", String::from_utf8_lossy(&with.stderr));
    assert!(String::from_utf8_lossy(&with.stdout).contains("articles:       0"));

    let script = archivectl_command(dir.path()).args(["completions", "bash"]).output().unwrap();
    assert!(script.status.success());
    let script = String::from_utf8(script.stdout).unwrap();
    assert!(script.contains("search") && script.contains("--output"), "subcommands and flags complete");
    let checked = Command::new("bash").arg("-n").stdin(std::process::Stdio::piped()).spawn().and_then(|mut bash| {
        use std::io::Write;
        bash.stdin.take().unwrap().write_all(script.as_bytes())?;
        bash.wait()
    });
    assert!(checked.unwrap().success(), "bash accepts the script");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archivectl_put_resumes_an_interrupted_upload() {
    use archive::proto::v1::{self as pb, upload_media_request::Kind};
    let dir = tempfile::tempdir().unwrap();
    let ports = [("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"), ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")];
    let server = spawn_archived(dir.path(), &ports);
    let mut client = archive::client::media_client(server.channel().await);

    // An earlier put got one and a half parts across, then broke off.
    let header = pb::UploadHeader { filename: "phong-su.bin".into(), ..Default::default() };
    let started = client.start_upload(pb::StartUploadRequest { header: Some(header) }).await.unwrap().into_inner();
    let part = started.part_size_bytes as usize;
    let data = common::pseudo_random_bytes(part * 5 / 2, 11);
    std::fs::write(dir.path().join("phong-su.bin"), &data).unwrap();
    let resume = pb::UploadResume { upload_id: started.upload_id.clone(), offset: 0 };
    let first = std::iter::once(pb::UploadMediaRequest { kind: Some(Kind::Resume(resume)) });
    let chunks = data[..part * 3 / 2]
        .chunks(1 << 20)
        .map(|c| pb::UploadMediaRequest { kind: Some(Kind::Chunk(c.to_vec().into())) });
    let messages: Vec<_> = first.chain(chunks).collect();
    let broken = client.upload_media(futures::stream::iter(messages)).await.expect_err("no finish");
    assert!(broken.message().contains(&format!("resume at offset {part}")), "{}", broken.message());

    // `put --resume` sends the rest (the server takes a resumed stream only
    // at the committed offset).
    let put = tokio::task::spawn_blocking(move || {
        let args = ["put", "phong-su.bin", "--resume", &started.upload_id];
        archivectl(&server, dir.path(), &args)
    })
    .await
    .unwrap();
    assert!(put.contains(&sha256_hex(&data)), "the clip stored is the file: {put}");
}

/// A server that dies under a call: tonic labels the broken link INTERNAL
/// or UNKNOWN, and the client must still see it as transient (archivectl
/// resumes it), while a verdict the server sends is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_upload_is_a_transient_failure() {
    use archive::proto::v1::{self as pb, upload_media_request::Kind};
    let dir = tempfile::tempdir().unwrap();
    let ports = [("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"), ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")];
    let server = spawn_archived(dir.path(), &ports);
    let channel = server.channel().await;

    let verdict = archive::proto::v1::metadata_service_client::MetadataServiceClient::new(channel.clone())
        .get_media(pb::GetMediaRequest { name: "media/khong-co".into() })
        .await
        .expect_err("no such clip");
    assert!(!archive::client::is_transient(&verdict), "{verdict:?}");

    let (messages, stream) = tokio::sync::mpsc::channel(4);
    let mut client = archive::client::media_client(channel.clone());
    let call =
        tokio::spawn(async move { client.upload_media(tokio_stream::wrappers::ReceiverStream::new(stream)).await });
    let header = pb::UploadHeader { filename: "dang-do.bin".into(), ..Default::default() };
    messages.send(pb::UploadMediaRequest { kind: Some(Kind::Header(header)) }).await.unwrap();
    for chunk in common::pseudo_random_bytes(4 << 20, 5).chunks(1 << 20) {
        messages.send(pb::UploadMediaRequest { kind: Some(Kind::Chunk(chunk.to_vec().into())) }).await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(server); // SIGKILL, mid-stream: no finish was sent
    let broken = call.await.unwrap().expect_err("the server died");
    assert!(archive::client::is_transient(&broken), "{broken:?}");
    drop(messages);

    let gone = archive::proto::v1::metadata_service_client::MetadataServiceClient::new(channel)
        .get_media(pb::GetMediaRequest { name: "media/khong-co".into() })
        .await
        .expect_err("nobody answers");
    assert!(archive::client::is_transient(&gone), "{gone:?}");
}

/// A regression guard, not a benchmark. With Nagle's algorithm on archived's
/// accepted sockets, a reply written in two segments waited for the
/// caller's delayed ACK: every unary call that awaited storage took ~40 ms
/// on loopback. A client in archived's own process did not see it, so this
/// talks to the binary. 10 ms is far above what a call costs here and far
/// below that floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_answers_under_the_delayed_ack_floor() {
    use archive::proto::v1::{
        self as pb, article_service_client::ArticleServiceClient, metadata_service_client::MetadataServiceClient,
    };
    use std::time::{Duration, Instant};
    const CALLS: usize = 20;
    const BOUND: Duration = Duration::from_millis(10);
    async fn median<F: Future>(mut call: impl FnMut() -> F) -> Duration {
        let mut samples = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let started = Instant::now();
            call().await;
            samples.push(started.elapsed());
        }
        samples.sort();
        samples[CALLS / 2]
    }

    let dir = tempfile::tempdir().unwrap();
    let ports = [("ARCHIVE__SERVER__GRPC_ADDR", "127.0.0.1:0"), ("ARCHIVE__SERVER__GATEWAY_ADDR", "127.0.0.1:0")];
    let server = spawn_archived(dir.path(), &ports);
    let channel = server.channel().await;
    let (mut articles, metadata) = (ArticleServiceClient::new(channel.clone()), MetadataServiceClient::new(channel));
    let request = pb::ImportArticleRequest {
        request_id: String::new(),
        export_text: fixture("article-2019-09-30-giao-ban-truc-tuyen.txt").into(),
        article_id: "tre".into(),
    };
    articles.import_article(request).await.expect("imports");
    let mut media = archive::client::media_client(server.channel().await);
    let header =
        pb::UploadHeader { filename: "tre.mp4".into(), content_type: "video/mp4".into(), ..Default::default() };
    let messages =
        archive::client::upload_messages(header, std::io::Cursor::new(fixture("clip-faststart.mp4")), |_| {});
    let clip = media.upload_media(messages).await.expect("uploads").into_inner().media.expect("media");
    let url = media
        .get_playback_url(pb::GetPlaybackUrlRequest { name: clip.name, ..Default::default() })
        .await
        .expect("signs")
        .into_inner()
        .url;
    let http = reqwest::Client::new();

    let get = median(|| {
        let request =
            pb::GetArticleRequest { name: "articles/tre".into(), view: pb::ArticleView::Full.into(), revision: 0 };
        let mut articles = articles.clone();
        async move { articles.get_article(request).await.expect("gets") }
    })
    .await;
    let list = median(|| {
        let mut metadata = metadata.clone();
        async move { metadata.list_articles(pb::ListArticlesRequest::default()).await.expect("lists") }
    })
    .await;
    let range = median(|| {
        let request = http.get(&url).header("range", "bytes=0-99");
        async move {
            let response = request.send().await.expect("gets");
            assert_eq!(response.status(), 206);
            response.bytes().await.expect("reads")
        }
    })
    .await;
    for (what, median) in [("GetArticle", get), ("ListArticles", list), ("gateway Range GET", range)] {
        assert!(median < BOUND, "{what}: median {median:?} of {CALLS} calls (bound {BOUND:?})");
    }
}

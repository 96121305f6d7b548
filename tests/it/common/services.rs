//! A SeaweedFS and a PostgreSQL of a test's own, for tests that stop and
//! restart their backends (the kill matrix) without disturbing the ones
//! `scripts/test.sh` shares between tests. Started exactly as
//! `scripts/services.sh` starts the shared ones, from the binaries it
//! exports (`ARCHIVE_TEST_WEED_BIN`, `ARCHIVE_TEST_PG_BIN`); their data
//! survives a stop, and everything is killed and removed on drop.

use std::{
    net::{Ipv4Addr, TcpListener},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the suite with scripts/test.sh"))
}

fn port_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// `n` ports p in [30000, 40000) with p and p + 10000 free (SeaweedFS puts
/// each service's gRPC port at +10000). Another range than services.sh's,
/// so the two do not race for the same ports.
fn free_port_pairs(n: usize) -> Vec<u16> {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut ports = Vec::new();
    while ports.len() < n {
        let port = rng.random_range(30000..40000u16);
        if !ports.contains(&port) && port_free(port) && port_free(port + 10000) {
            ports.push(port);
        }
    }
    ports
}

/// A free loopback port (the OS's pick).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

fn random_token(len: usize) -> String {
    use rand::{Rng, distr::Alphanumeric};
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect::<String>().to_uppercase()
}

/// A `weed mini` with SigV4 enforced, one bucket, its data in a directory
/// that outlives [`Seaweed::kill`], so [`Seaweed::start`] brings it back.
pub struct Seaweed {
    child: Option<Child>,
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl Seaweed {
    pub async fn new(bucket: &str) -> Self {
        // A short path: weed's unix sockets live in it.
        let dir = tempfile::Builder::new().prefix("km-weed.").tempdir_in("/tmp").expect("temp dir");
        let (access_key, secret_key) = (random_token(20), random_token(40));
        let identities = serde_json::json!({"identities": [{"name": "test",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]});
        std::fs::write(dir.path().join("s3.json"), identities.to_string()).unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let ports = free_port_pairs(5);
        let mut weed = Self {
            child: None,
            endpoint: format!("http://127.0.0.1:{}", ports[0]),
            ports,
            dir,
            bucket: bucket.into(),
            access_key,
            secret_key,
        };
        // The ports are free when picked, not when weed binds them: another
        // test's listener or connection may take one meanwhile. Before
        // anyone knows the endpoint, pick again (a restart keeps its ports).
        for attempt in 1.. {
            match weed.try_start().await {
                Ok(()) => break,
                Err(log) if attempt < 4 && log.contains("address already in use") => {
                    // Nothing of the failed start may name its ports.
                    let data = weed.dir.path().join("data");
                    std::fs::remove_dir_all(&data).unwrap();
                    std::fs::create_dir(&data).unwrap();
                    weed.ports = free_port_pairs(5);
                    weed.endpoint = format!("http://127.0.0.1:{}", weed.ports[0]);
                }
                Err(log) => panic!("weed exited early:\n{log}"),
            }
        }
        weed
    }

    pub fn s3_settings(&self) -> archive::config::S3Settings {
        archive::config::S3Settings {
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: Some(self.access_key.clone()),
            secret_access_key: Some(self.secret_key.clone().into()),
            force_path_style: true,
            part_size_bytes: super::TEST_PART_SIZE,
            ..Default::default()
        }
    }

    pub async fn client(&self) -> aws_sdk_s3::Client {
        let store = archive::blob::S3BlobStore::connect(&self.s3_settings(), &self.bucket).await.expect("s3 client");
        store.client().clone()
    }

    /// Starts weed (again) on its ports and data, and waits until a signed
    /// HEAD on the bucket answers.
    pub async fn start(&mut self) {
        if let Err(log) = self.try_start().await {
            panic!("weed exited early:\n{log}");
        }
    }

    /// [`Self::start`], giving the log's tail when weed exits early.
    async fn try_start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "weed already runs");
        let dir = self.dir.path();
        let [s3, master, volume, filer, admin] = self.ports[..] else { unreachable!() };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("weed.out")).unwrap();
        let child = Command::new(env("ARCHIVE_TEST_WEED_BIN"))
            .arg(format!("-logdir={}", dir.display()))
            .arg("mini")
            .arg(format!("-dir={}", dir.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-bucket={}", self.bucket))
            .arg(format!("-s3.config={}", dir.join("s3.json").display()))
            .args(["-master.telemetry=false", "-webdav=false", "-admin.ui=false"])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.autoCreateBucket=false"])
            .arg(format!("-filer.localSocket={}", dir.join("filer.sock").display()))
            .arg(format!("-s3.localSocket={}", dir.join("s3.sock").display()))
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-admin.port={admin}"))
            .env("GOMEMLIMIT", "400MiB")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("weed starts");
        self.child = Some(child);
        let client = self.client().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!("({status}) {}", self.log_tail()));
            }
            if client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
                return Ok(());
            }
            assert!(Instant::now() < deadline, "weed not ready after 60 s:\n{}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// SIGKILL, as a crash; the data directory stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("weed.out")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.kill();
        // The gRPC unix sockets weed puts at a fixed place (services.sh).
        let names = ["s3", "master", "volume", "filer", "admin"];
        for (name, port) in names.iter().zip(&self.ports) {
            let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{name}-grpc-{}.sock", port + 10000));
        }
    }
}

/// A PostgreSQL cluster of its own (trust auth, fsync off as in
/// services.sh), run as the `postgres` user when we are root.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    started: bool,
    pub url: String,
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

impl Postgres {
    pub fn new() -> Self {
        let bin = PathBuf::from(env("ARCHIVE_TEST_PG_BIN"));
        let dir = tempfile::Builder::new().prefix("km-pg.").tempdir_in("/tmp").expect("temp dir");
        if running_as_root() {
            let chowned = Command::new("chown").arg("postgres:").arg(dir.path()).status().unwrap();
            assert!(chowned.success(), "chown postgres: {}", dir.path().display());
        }
        let data = dir.path().join("data");
        let output = Self::as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale"])
            .output()
            .unwrap();
        assert!(output.status.success(), "initdb: {}", String::from_utf8_lossy(&output.stderr));
        let port = free_port();
        let mut postgres =
            Self { bin, dir, port, started: false, url: format!("postgres://postgres@127.0.0.1:{port}/postgres") };
        postgres.pg_ctl(&["start"]);
        postgres.started = true;
        postgres
    }

    /// A server tool as the postgres user when we are root, from `/`.
    fn as_postgres(tool: &Path) -> Command {
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(tool);
            command
        } else {
            Command::new(tool)
        };
        command.current_dir("/");
        command
    }

    fn pg_ctl(&self, action: &[&str]) {
        let dir = self.dir.path();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            self.port,
            dir.display()
        );
        let output = Self::as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &options])
            .args(action)
            .output()
            .unwrap();
        let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
        assert!(output.status.success(), "pg_ctl {action:?}: {}\n{log}", String::from_utf8_lossy(&output.stderr));
    }

    /// A fast restart: open connections are cut, the server comes back on
    /// the same port and data.
    pub fn restart(&self) {
        self.pg_ctl(&["-m", "fast", "restart"]);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.started {
            let _ = Self::as_postgres(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "immediate", "-w", "-t", "20", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

//! deploy/ as written: no container engine runs here, so the manifests are
//! read (YAML through the test venv's PyYAML) and the configuration they
//! give archived (files, environment, secrets) is put in place and checked
//! by `archived check`, the command an operator runs; then their ports,
//! probes and grace period are held against the effective settings.

use serde_json::Value;
use std::{collections::BTreeMap, path::Path, process::Command};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every document of a YAML file, as JSON.
fn yaml(path: &Path) -> Vec<Value> {
    let script = "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))";
    let output = crate::common::python(&["-c".as_ref(), script.as_ref(), path.as_os_str()]);
    assert!(output.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `archived check` with exactly this environment; the effective settings.
fn archived_check(dir: &Path, env: &BTreeMap<String, String>) -> toml::Table {
    let output = Command::new(env!("CARGO_BIN_EXE_archived"))
        .arg("check")
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .output()
        .expect("archived runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "archived check refused the configuration: {stderr}");
    toml::from_str(&stdout).expect("check prints the effective settings as TOML")
}

fn port_of(addr: &toml::Value) -> u64 {
    addr.as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap()
}

/// ENV lines of the Dockerfile's runtime stage.
fn dockerfile_env() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let runtime = text.rsplit("\nFROM ").next().unwrap().replace("\\\n", " ");
    let mut env = BTreeMap::new();
    for line in runtime.lines().filter_map(|line| line.trim().strip_prefix("ENV ")) {
        for pair in line.split_whitespace() {
            let (name, value) = pair.split_once('=').expect("ENV NAME=VALUE");
            env.insert(name.to_owned(), value.to_owned());
        }
    }
    env
}

#[test]
fn kubernetes_manifests_give_archived_a_configuration_it_accepts() {
    crate::skip_without!(PYTHON);
    let dir = tempfile::tempdir().unwrap();
    let base = root().join("deploy/kubernetes");
    let kustomization = &yaml(&base.join("kustomization.yaml"))[0];
    let mut docs = Vec::new();
    for resource in kustomization["resources"].as_array().unwrap() {
        docs.extend(yaml(&base.join(resource.as_str().unwrap())));
    }
    let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k}"));
    for expected in ["ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"] {
        kind(expected);
    }
    let (config_map, secret, deployment, service) =
        (kind("ConfigMap"), kind("Secret"), kind("Deployment"), kind("Service"));
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];

    // The pod's files, where its mounts put them (under `dir`).
    let mounted = |path: &str| dir.path().join(path.trim_start_matches('/'));
    let volumes = pod["volumes"].as_array().unwrap();
    for mount in container["volumeMounts"].as_array().unwrap() {
        let volume = volumes.iter().find(|v| v["name"] == mount["name"]).expect("the mount's volume");
        let target = mounted(mount["mountPath"].as_str().unwrap());
        if let Some(name) = volume["configMap"]["name"].as_str() {
            assert_eq!(config_map["metadata"]["name"], name);
            let key = mount["subPath"].as_str().expect("the config is mounted by subPath");
            let text = config_map["data"][key].as_str().unwrap();
            // Paths inside the pod, moved under `dir` for this run.
            let text = text.replace("\"/etc/", &format!("\"{}/etc/", dir.path().display()));
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, text).unwrap();
        } else if let Some(name) = volume["secret"]["secretName"].as_str() {
            assert_eq!(secret["metadata"]["name"], name);
            std::fs::create_dir_all(&target).unwrap();
            for item in volume["secret"]["items"].as_array().unwrap() {
                let value = secret["stringData"][item["key"].as_str().unwrap()].as_str().expect("the item's key");
                std::fs::write(target.join(item["path"].as_str().unwrap()), value).unwrap();
            }
        }
    }

    // The container's environment, secrets resolved.
    let mut env = dockerfile_env();
    for var in container["env"].as_array().unwrap() {
        let value = match var["value"].as_str() {
            Some(value) => value.to_owned(),
            None => {
                let reference = &var["valueFrom"]["secretKeyRef"];
                assert_eq!(secret["metadata"]["name"], reference["name"]);
                let key = reference["key"].as_str().unwrap();
                secret["stringData"][key].as_str().unwrap_or_else(|| panic!("the Secret has no {key}")).to_owned()
            }
        };
        let value = if var["name"] == "ARCHIVE_CONFIG" { mounted(&value).display().to_string() } else { value };
        env.insert(var["name"].as_str().unwrap().to_owned(), value);
    }
    let settings = archived_check(dir.path(), &env);

    // Ports, probes and the grace period against what archived does.
    let server = settings["server"].as_table().unwrap();
    let ports: BTreeMap<&str, u64> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["containerPort"].as_u64().unwrap()))
        .collect();
    assert_eq!(ports["grpc"], port_of(&server["grpc_addr"]));
    assert_eq!(ports["http"], port_of(&server["gateway_addr"]));
    assert_eq!(ports["admin"], port_of(&server["admin_addr"]));
    assert!(server["admin_addr"].as_str().unwrap().starts_with("0.0.0.0:"), "Prometheus scrapes the pod IP");
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"].as_str(), Some(ports["admin"].to_string().as_str()));
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    assert!(server["grpc_addr"].as_str().unwrap().starts_with("0.0.0.0:"), "reachable from outside the pod");
    assert_eq!(container["readinessProbe"]["grpc"]["port"].as_u64(), Some(ports["grpc"]));
    for probe in ["livenessProbe", "startupProbe"] {
        assert_eq!(container[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe}");
    }
    let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    let shutdown = server["shutdown_delay_seconds"].as_integer().unwrap()
        + server["shutdown_deadline_seconds"].as_integer().unwrap();
    assert!(grace >= shutdown + 5, "terminationGracePeriodSeconds {grace} below delay + deadline {shutdown} + 5");
    for port in service["spec"]["ports"].as_array().unwrap() {
        assert!(ports.contains_key(port["targetPort"].as_str().unwrap()), "{port}");
        assert_ne!(port["targetPort"], "admin", "metrics stay off the Service");
    }
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(settings["auth"]["tokens_file"].is_str(), "auth is on");
    assert!(settings["gateway"]["keys"].as_array().is_some_and(|keys| !keys.is_empty()), "replicas share gateway keys");
}

#[test]
fn compose_gives_archived_a_configuration_it_accepts() {
    crate::skip_without!(PYTHON);
    let dir = tempfile::tempdir().unwrap();
    let compose = &yaml(&root().join("deploy/compose.yaml"))[0];
    let archived = &compose["services"]["archived"];
    let mut env = dockerfile_env();
    for (name, value) in archived["environment"].as_object().unwrap() {
        env.insert(name.clone(), value.as_str().unwrap().to_owned());
    }
    // Bind mounts of files from deploy/, where the container sees them.
    for volume in archived["volumes"].as_array().unwrap() {
        let spec = volume.as_str().unwrap();
        let mut parts = spec.split(':');
        let (source, target) = (parts.next().unwrap(), parts.next().unwrap());
        if let Some(file) = source.strip_prefix("./") {
            let moved = dir.path().join(target.trim_start_matches('/'));
            std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
            std::fs::copy(root().join("deploy").join(file), &moved).unwrap();
            for value in env.values_mut().filter(|value| value.as_str() == target) {
                *value = moved.display().to_string();
            }
        }
    }
    let settings = archived_check(dir.path(), &env);
    let server = settings["server"].as_table().unwrap();
    let published: Vec<u64> = archived["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    assert!(published.contains(&port_of(&server["grpc_addr"])), "{published:?}");
    assert!(published.contains(&port_of(&server["gateway_addr"])), "{published:?}");
    assert!(published.contains(&port_of(&server["admin_addr"])), "{published:?}");
    assert!(settings["auth"]["tokens_file"].is_str(), "auth is on in compose");
    assert_eq!(settings["storage"]["url"].as_str(), Some("s3://archive"));
    assert!(settings["metadata"]["url"].as_str().unwrap().starts_with("postgres://"));
}

/// The Dockerfile's build stage as Docker would run it: exactly the files
/// its COPY lines take, then its cargo command with `check` for `build`
/// (the suite's target directory is shared, so dependencies are not
/// compiled again; a release build from nothing would take many minutes).
/// A manifest naming a file the image lacks, or a stale Cargo.lock under
/// `--locked`, fails here as it would in `docker build`.
#[test]
fn the_dockerfile_build_stage_compiles_from_what_it_copies() {
    // Minutes of compiling: not part of the quick loop.
    if std::env::var_os("ARCHIVE_TEST_QUICK").is_some() {
        crate::common::skipped(
            "SKIPPED the Dockerfile's build stage: scripts/test.sh --quick leaves it to the full suite",
        );
        return;
    }
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let stage: Vec<&str> = dockerfile
        .lines()
        .skip_while(|line| !line.starts_with("FROM "))
        .enumerate()
        .take_while(|(number, line)| *number == 0 || !line.starts_with("FROM "))
        .map(|(_, line)| line.trim())
        .collect();
    let context = tempfile::tempdir().unwrap();
    for copy in stage.iter().filter_map(|line| line.strip_prefix("COPY ")) {
        let words: Vec<&str> = copy.split_whitespace().collect();
        let (destination, sources) = words.split_last().expect("COPY SOURCE... DEST");
        for source in sources {
            let target = match *destination {
                "./" | "." => context.path().join(source),
                dir if sources.len() > 1 => context.path().join(dir).join(source),
                path => context.path().join(path),
            };
            copy_tree(&root().join(source), &target);
        }
    }
    let build = stage.iter().find(|line| line.contains("cargo build")).expect("the stage runs cargo build");
    let flags: Vec<&str> = build.split_whitespace().skip_while(|word| *word != "build").skip(1).collect();
    let flags: Vec<&str> = flags.into_iter().take_while(|word| word.starts_with("--")).collect();
    assert!(flags.contains(&"--locked"), "the image builds what Cargo.lock says: {build}");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("tmp is inside the target directory");
    let flags: Vec<&str> = flags.into_iter().filter(|flag| *flag != "--release").collect();
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("check")
        .args(&flags)
        .args(["--offline", "--quiet"])
        .current_dir(context.path())
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo check {flags:?} in the image's context: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
}

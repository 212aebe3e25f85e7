//! Veranta (formerly Avantis) 2.2 in the deployment: the template, the example settings and the
//! code name no host of the old domain (`avantisfi` dot `com`), and every function gets the `VERANTA_*` names.

use serde_yaml::Value;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The old venue domain, spelt so this file does not contain it.
fn old_domain() -> String {
    ["avantisfi", "com"].join(".")
}

#[test]
fn template_sets_veranta_names_from_veranta_parameters() {
    let text = read("template.yaml");
    assert!(!text.contains(&old_domain()), "template.yaml still names an {} host", old_domain());
    let t: Value = serde_yaml::from_str(&text).unwrap();
    let vars = t["Globals"]["Function"]["Environment"]["Variables"].as_mapping().unwrap();
    let env = |k: &str| vars.get(k).unwrap_or_else(|| panic!("Globals set no {k}"));
    for (var, param) in [
        ("VERANTA_NETWORK", "VerantaNetwork"),
        ("VERANTA_API_BASE_URL", "VerantaApiBaseUrl"),
        ("VERANTA_TX_BUILDER_URL", "VerantaTxBuilderUrl"),
        ("VERANTA_BATCHED_MARKET_URL", "VerantaBatchedMarketUrl"),
        ("VERANTA_CORE_API_URL", "VerantaCoreApiUrl"),
        ("VERANTA_DATA_API_URL", "VerantaDataApiUrl"),
        ("VERANTA_HISTORY_API_URL", "VerantaHistoryApiUrl"),
        ("VERANTA_FEED_URL", "VerantaFeedUrl"),
        ("VERANTA_EXECUTION", "VerantaExecution"),
    ] {
        let v = env(var);
        let Value::Tagged(tag) = v else { panic!("{var} is not a !Ref: {v:?}") };
        assert_eq!((tag.tag.to_string().as_str(), tag.value.as_str()), ("!Ref", Some(param)), "{var}");
        assert!(t["Parameters"].get(param).is_some(), "no parameter {param}");
    }
    let old: Vec<&str> = vars.keys().filter_map(Value::as_str).filter(|k| k.starts_with("AVANTIS_")).collect();
    assert!(old.is_empty(), "pre-rename variables still set: {old:?}");
    let params = t["Parameters"].as_mapping().unwrap();
    let old: Vec<&str> = params.keys().filter_map(Value::as_str).filter(|k| k.starts_with("Avantis")).collect();
    assert!(old.is_empty(), "pre-rename parameters: {old:?}");

    let network = &t["Parameters"]["VerantaNetwork"];
    assert_eq!(network["Default"].as_str(), Some("mainnet"));
    let allowed: Vec<&str> = network["AllowedValues"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(allowed, ["mainnet", "testnet"]);
    // Overrides default to empty: the profile decides, as Config reads an empty value as unset.
    for p in ["VerantaApiBaseUrl", "VerantaTxBuilderUrl", "VerantaCoreApiUrl", "VerantaFeedUrl"] {
        assert_eq!(t["Parameters"][p]["Default"].as_str(), Some(""), "{p}");
    }
    let execution: Vec<&str> =
        t["Parameters"]["VerantaExecution"]["AllowedValues"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(execution, ["relayer", "direct"]);
}

#[test]
fn the_template_defaults_give_the_sdk_mainnet_hosts() {
    // What a function reads when the stack keeps every default: empty overrides, mainnet.
    let t: Value = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let params = t["Parameters"].as_mapping().unwrap();
    let vars = t["Globals"]["Function"]["Environment"]["Variables"].as_mapping().unwrap();
    let env: Vec<(String, String)> = vars
        .iter()
        .filter_map(|(k, v)| {
            let k = k.as_str()?;
            let Value::Tagged(tag) = v else { return None };
            let default = params.get(tag.value.as_str()?)?.get("Default")?;
            let default = match default {
                Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other).ok()?.trim().to_owned(),
            };
            k.starts_with("VERANTA_").then(|| (k.to_owned(), default))
        })
        .collect();
    assert_eq!(env.len(), 9, "{env:?}");
    let c = vanta_runtime::Config::from_lookup(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    assert_eq!(c.avantis.tx_builder, "https://tx-builder.veranta.xyz");
    assert_eq!(c.avantis.core, "https://prod-api.veranta.xyz/core");
    assert_eq!(c.avantis.batched_market, "https://prod-api.veranta.xyz/batched-market");
    assert_eq!(c.avantis.feed, "https://feed-v3.veranta.xyz");
    assert!(c.deprecated_names.is_empty());
}

/// Every text file of the repository that ships or configures Vanta (code, template, examples,
/// docs), build output and vendored trees left out.
fn shipped_files() -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name != ".env.example" || ["target", "node_modules"].contains(&name.as_str()) {
                continue;
            }
            if e.file_type().map(|t| t.is_symlink()).unwrap_or(true) {
                continue;
            }
            if p.is_dir() {
                walk(&p, out);
            } else if ["rs", "yaml", "yml", "toml", "md", "html", "js", "example", "sol", "py"]
                .iter()
                .any(|ext| p.extension().is_some_and(|x| x == *ext) || name.ends_with(&format!(".{ext}")))
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), &mut out);
    out
}

#[test]
fn no_file_names_the_old_hosts() {
    let files = shipped_files();
    assert!(files.iter().any(|p| p.ends_with("shared/runtime/src/config.rs")), "the walk found the code");
    assert!(files.iter().any(|p| p.ends_with(".env.example")), "the walk found .env.example");
    let hits: Vec<String> = files
        .iter()
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|s| s.contains(&old_domain())))
        .map(|p| p.strip_prefix(root()).unwrap_or(p).display().to_string())
        .collect();
    assert!(hits.is_empty(), "files still naming {}: {hits:?}", old_domain());
}

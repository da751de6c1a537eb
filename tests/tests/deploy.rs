//! deploy/: the compose file validates (with and without the monitoring profile) and runs three
//! brokers that form one quorum, Prometheus scrapes every broker's HTTP endpoint, and the Grafana dashboard queries only metrics the broker
//! exports (docs/operations.md lists them; a broker unit test keeps that list exact).

use std::process::Command;

use anyhow::Result;
use fjord_tests::{repo_root, run_ok};

#[test]
fn compose_file_validates_with_and_without_monitoring() -> Result<()> {
    let compose = repo_root().join("deploy/docker-compose.yml");
    let compose = compose.to_str().unwrap_or_default();
    let services = run_ok(
        Command::new("docker-compose").args(["-f", compose, "--profile", "monitoring", "config", "--services"]),
        b"",
    )?;
    let mut services: Vec<_> = services.lines().collect();
    services.sort_unstable();
    assert_eq!(services, ["fjord-1", "fjord-2", "fjord-3", "grafana", "prometheus"]);
    let resolved = run_ok(Command::new("docker-compose").args(["-f", compose, "config"]), b"")?;
    assert!(resolved.contains("http.listener=0.0.0.0:9644"), "{resolved}");
    // Three brokers forming one quorum, each a voter with its own id and data.
    let voters = "controller.quorum.voters=1@fjord-1:9093,2@fjord-2:9093,3@fjord-3:9093";
    assert_eq!(resolved.matches(voters).count(), 3, "{resolved}");
    for id in 1..=3 {
        assert!(resolved.contains(&format!("node.id={id}")), "{resolved}");
        assert!(resolved.contains(&format!("fjord-{id}-data")), "{resolved}");
    }
    // Prometheus and Grafana start only when asked for.
    assert_eq!(resolved.matches("- monitoring").count(), 2, "{resolved}");
    Ok(())
}

#[test]
fn prometheus_and_grafana_point_at_what_the_broker_serves() -> Result<()> {
    let root = repo_root();
    let prometheus = std::fs::read_to_string(root.join("deploy/prometheus.yml"))?;
    for id in 1..=3 {
        assert!(prometheus.contains(&format!("fjord-{id}:9644")), "{prometheus}");
    }
    assert!(prometheus.contains("metrics_path: /metrics"), "{prometheus}");

    let docs = std::fs::read_to_string(root.join("docs/operations.md"))?;
    let dashboard = std::fs::read_to_string(root.join("deploy/grafana/dashboards/fjord.json"))?;
    let mut queried = Vec::new();
    let mut rest = dashboard.as_str();
    while let Some(at) = rest.find("fjord_") {
        let name: String =
            rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        queried.push(name);
    }
    assert!(queried.len() > 10, "the dashboard queries {queried:?}");
    for name in queried {
        let base = ["_bucket", "_count", "_sum"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
        assert!(
            docs.contains(&format!("| `{base}` |")),
            "the dashboard queries {name}, which the broker does not export"
        );
    }
    Ok(())
}

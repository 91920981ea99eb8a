"""Reading ``/metrics`` (Prometheus text) in tests: sample values by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def metric_names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def sample_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly these labels, or None if the scrape has none."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def score_requests(text: str) -> float | None:
    """Successful ``POST /score`` requests counted in a scrape."""
    return sample_value(text, "claimscan_requests_total", route="/score", method="POST", status="200")

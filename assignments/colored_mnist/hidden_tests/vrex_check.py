"""Checker of the V-REx tests (grader side)."""

HINTS = {
    "population_variance_of_risks": [
        ("variance_term", 0.08, "that is the unbiased variance; use the population variance"),
        ("variance_term", 0.16, "that is the squared difference of the risks; use their variance"),
    ],
}

"""Checker of the Group DRO tests (grader side: numpy only, never imports student code)."""

# (output, the value a known mistake gives, what that mistake is)
HINTS = {
    "q_is_updated_before_weighting": [
        ("loss", 1.5, "you weighted with q before the update: q_e <- q_e * exp(eta * L_e), renormalise, then weight"),
        ("loss", 1.731058, "eta belongs inside the exp"),
    ],
    "q_accumulates_over_steps": [("q", [0.487503, 0.512497], "q was reset between calls: keep it in the module")],
    "gradient_flows_through_risks_with_q_detached": [
        ("grad", [0.5, 0.5], "the gradient used the q before the update"),
    ],
    "eval_mode_does_not_update_q": [("q_after_eval", [0.487503, 0.512497], "q must not change in eval mode")],
}


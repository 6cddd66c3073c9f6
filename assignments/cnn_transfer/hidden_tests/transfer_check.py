"""Checker of transfer learning's hidden tests (runs in the grader, never imports student code)."""

from grader.verdict.checker import scalar


def check_final_layer_is_a_new_linear_for_the_classes(got, expected):
    features = (scalar(got.get("in_features")), scalar(got.get("out_features")))
    want = (scalar(expected["in_features"]), scalar(expected["out_features"]))
    if got.get("is_linear") is not True or features != want:
        return f"model.fc should be Linear({want[0]:g}, {want[1]:g}), got {got.get('fc')}"
    return None


def check_only_the_final_layer_trains(got, expected):
    count, names = scalar(got.get("trainable")), got.get("trainable_names")
    want, want_names = scalar(expected["trainable"]), expected["trainable_names"]
    if count == want and names == want_names:
        return None
    shown = names if isinstance(names, str) and len(names) < 120 else f"{str(names)[:120]}..."
    return f"only fc should train ({want:,.0f} parameters: {want_names}); trainable now: {count:,.0f} in [{shown}]"


def check_two_classes(got, expected):
    count, want = scalar(got.get("trainable")), scalar(expected["trainable"])
    return None if count == want else (f"load_pretrained(2) should have {want:,.0f} trainable parameters, "
                                       f"got {count:,.0f}")


# Nothing trainable at all: the new fc was frozen with the rest.
HINTS = {
    "only_the_final_layer_trains": [("trainable", 0, "freeze first, then replace fc")],
    "two_classes": [("trainable", 0, "freeze first, then replace fc")],
}

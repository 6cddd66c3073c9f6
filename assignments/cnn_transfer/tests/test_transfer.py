"""Hidden tests for transfer learning: structure and trainable parameters (no pretrained
weights needed: the sandbox builds ResNet-18 with random ones)."""

from torch import nn

from transfer import load_pretrained


def trainable(model):
    return {name: p.numel() for name, p in model.named_parameters() if p.requires_grad}


def test_final_layer_is_a_new_linear_for_the_classes():
    model = load_pretrained(5)
    assert isinstance(model.fc, nn.Linear) and (model.fc.in_features, model.fc.out_features) == (512, 5), (
        f"model.fc should be Linear(512, 5), got {model.fc}")


def test_only_the_final_layer_trains():
    got = trainable(load_pretrained(5))
    assert set(got) == {"fc.weight", "fc.bias"} and sum(got.values()) == 2565, (
        f"only fc should train (2,565 parameters); trainable now: {sum(got.values())} in {sorted(got)[:6]}"
        + (" - freeze first, then replace fc" if not got else ""))


def test_two_classes():
    got = sum(trainable(load_pretrained(2)).values())
    assert got == 1026, f"load_pretrained(2) should have 1,026 trainable parameters, got {got}"

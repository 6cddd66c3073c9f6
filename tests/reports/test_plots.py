"""The report's inline SVG plots: training curves one quantity per axis, each line labelled."""

import re

from grader.reports.plots import curve_plot


def test_curves_put_one_quantity_per_plot_and_label_each_restart():
    restarts = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    series = {"epoch": [0, 1, 2] * 3, "restart": restarts, "loss": [2.0, 1.0, 0.5, 2.1, 1.2, 0.6, 1.9, 0.9, 0.4],
              "accuracy": [0.3, 0.6, 0.8, 0.2, 0.5, 0.7, 0.35, 0.65, 0.85]}
    html = str(curve_plot("groupDRO_log.txt", series))
    plots = re.findall(r'<svg class="curve".*?</svg>', html)
    assert len(plots) == 2  # loss and accuracy never share an axis
    loss, accuracy = plots
    assert ">loss</tspan>" in loss and ">accuracy</tspan>" in accuracy
    for plot in plots:
        lines = re.findall(r'<polyline class="line" data-label="([^"]+)"[^>]*>', plot)
        assert lines == ["restart 0", "restart 1", "restart 2"]
        labels = re.findall(r'<text class="label"[^>]*>([^<]+)</text>', plot)
        assert sorted(labels) == lines  # told apart by a label at each line's end, not by colour alone
        polylines = re.findall(r"<polyline[^>]*>", plot)
        dashes = {(re.search(r'stroke-dasharray="([^"]+)"', p) or [None, ""])[1] for p in polylines}
        assert len(dashes) == 3  # and by its dash pattern
    # each axis is scaled to its own quantity: loss 0.4 to 2.1, accuracy 0.2 to 0.85
    assert 'font-size="9">2.1</text>' in loss and 'font-size="9">0.85</text>' in accuracy
    assert 'font-size="9">2.1</text>' not in accuracy


def test_a_single_quantity_is_one_plot_without_a_legend():
    html = str(curve_plot("main_log.txt", {"step": [1, 2, 3], "loss": [1.0, 0.5, 0.25]}))
    assert html.count('<svg class="curve"') == 1 and 'class="label"' not in html and ">loss</tspan>" in html
    assert str(curve_plot("x", {"loss": [1.0]})) == ""

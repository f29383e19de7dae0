"""The running stage's progress on `tft run`'s bar (tft_utils/run/progress.py): read from a kernel log
that real tqdm bars and the stages' own lines were written to."""

import time

from tqdm.std import tqdm

from tft_utils.run.progress import Reader, Watch


def bar_lines(path, desc: str, total: int, upto: int) -> None:
    """What a kernel echoes to its log for a text bar: updates separated by carriage returns."""
    with open(path, "a", encoding="utf-8") as f:
        bar = tqdm(total=total, desc=desc, file=f, mininterval=0, ascii=False)
        for _ in range(upto):
            bar.update(1)
        if upto == total:
            bar.close()


def say(path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def test_the_last_bar_is_shown_with_the_model_it_belongs_to(tmp_path):
    log = tmp_path / "05_finetune.kernel.log"
    reader = Reader(log)
    assert reader.status() is None  # no log yet
    say(log, "[IPKernelApp] WARNING | Kernel is running over TCP without encryption.")
    bar_lines(log, "Loading weights", 20, 20)
    assert reader.status().startswith("Loading weights 20/20 [")  # before any model is named
    say(log, "direct seed 0: training on 327 conversations -> /x/models/direct-seed0")
    assert reader.status() is None  # the new model's bars have not started
    bar_lines(log, "train", 500, 230)
    status = reader.status()
    assert status.startswith("direct seed 0: train 230/500 [") and "<" in status
    say(log, "tft seed 1: training on 827 conversations -> /x/models/tft-seed1")
    bar_lines(log, "train", 500, 12)
    assert reader.status().startswith("tft seed 1: train 12/500 [")
    say(log, "base seed None: predicting test_pairs.jsonl with /x/tool-base")
    bar_lines(log, "predict", 360, 21)
    assert reader.status().startswith("base: predict 21/360 [")  # the base model has no seed


def test_a_line_cut_by_a_read_is_read_whole_next_time(tmp_path):
    log = tmp_path / "06_evaluate.kernel.log"
    say(log, "direct seed 0: predicting test_pairs.jsonl with /x")
    line = "\rpredict:  37%|███▋      | 133/360 [00:41<01:10,  3.21it/s]"
    data = line.encode()
    cut = data.index("█".encode()) + 1  # inside a three-byte character
    with open(log, "ab") as f:
        f.write(data[:cut])
    reader = Reader(log)
    assert reader.status() is None
    with open(log, "ab") as f:
        f.write(data[cut:])
    assert reader.status() == "direct seed 0: predict 133/360 [00:41<01:10]"


def test_the_watch_tells_each_new_status_while_the_log_grows(tmp_path):
    log = tmp_path / "05_finetune.kernel.log"
    say(log, "tft seed 1: training on 25 conversations -> /x")  # the stage's previous run, same log
    bar_lines(log, "train", 10, 10)
    shown = []
    with Watch(log, shown.append, every=0.05):
        time.sleep(0.3)  # the kernel is starting: nothing new in the log, nothing to tell
        say(log, "direct seed 0: training on 5 conversations -> /x")
        for n in (1, 2, 3):
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"\rtrain:  {n * 10}%|█         | {n}/10 [00:0{n}<00:09,  1.00it/s]")
            time.sleep(0.3)
    assert shown == [f"direct seed 0: train {n}/10 [00:0{n}<00:09]" for n in (1, 2, 3)]


def test_a_bar_named_after_an_endpoint_keeps_its_whole_name(tmp_path):
    log = tmp_path / "03_filter_relabel.kernel.log"
    bar_lines(log, "relabel [qwen3:8b]", 40, 7)  # an Ollama model's name holds a colon
    assert Reader(log).status().startswith("relabel [qwen3:8b] 7/40 [")


def test_a_cluster_shows_each_running_stage_with_what_its_kernel_is_doing(tmp_path):
    """`tft run --cluster`: the driver reads the kernel logs of the stages running side by side (outputs/ is
    shared), each from where it ended when the run began."""
    from tft_utils.run.progress import Logs

    s1, s2 = tmp_path / "s1_05.kernel.log", tmp_path / "s2_05.kernel.log"
    say(s1, "direct seed 0: training on 25 conversations -> /x")  # the stage's run before this one
    bar_lines(s1, "train", 10, 10)
    logs = Logs({"s1/05_finetune": s1, "s2/05_finetune": s2, "s3/04_synthesize": tmp_path / "none.log"})
    running = ["s1/05_finetune", "s2/05_finetune", "s3/04_synthesize"]
    assert logs.status(running) == ", ".join(running)  # nothing of this run's yet
    say(s1, "tft seed 1: training on 827 conversations -> /x")
    bar_lines(s1, "train", 500, 12)
    say(s2, "direct seed 0: predicting test_pairs.jsonl with /x")
    bar_lines(s2, "predict", 360, 40)
    shown = logs.status(running)
    assert shown.startswith("s1/05_finetune (tft seed 1: train 12/500 [") and shown.endswith(
        "s3/04_synthesize"
    )
    assert "s2/05_finetune (direct seed 0: predict 40/360 [" in shown
    assert logs.status([]) == "-" and logs.status(["run/01_data"]) == "run/01_data"  # not among its steps


def test_two_workers_bars_in_one_log_are_each_shown_with_their_model(tmp_path):
    """run.jobs 2: two students train side by side and write one kernel log, each worker's lines and bar
    updates tagged (core/workers.py); each running bar is shown with its own model, a finished one no more."""
    from tft_utils.core.workers import TAG, Tagged

    log = tmp_path / "05_finetune.kernel.log"
    f = open(log, "a", encoding="utf-8")  # noqa: SIM115 - both workers' streams write it, as the kernel's fds
    w1, w2 = Tagged(f, TAG.format(1)), Tagged(f, TAG.format(2))
    reader = Reader(log)

    def update(w, n: int, total: int = 500) -> None:  # tqdm's update: a carriage return, then the bar
        w.write(f"\rtrain:  {100 * n // total}%|█         | {n}/{total} [00:{n:02d}<00:09,  1.00it/s]")
        f.flush()

    print("direct seed 0: training on 25 conversations -> /x/direct-seed0", file=w1)
    update(w1, 1)
    print("tft seed 0: training on 40 conversations -> /x/tft-seed0", file=w2)  # after w1's open bar
    update(w2, 1)
    update(w1, 2)
    assert (
        reader.status() == "direct seed 0: train 2/500 [00:02<00:09] | tft seed 0: train 1/500 [00:01<00:09]"
    )
    update(w1, 500)  # direct seed 0 is done: its worker goes on to direct seed 1, not started yet
    update(w2, 3)
    assert reader.status() == "tft seed 0: train 3/500 [00:03<00:09]"
    print("", file=w1)
    print("direct seed 1: training on 25 conversations -> /x/direct-seed1", file=w1)
    update(w1, 4)
    assert (
        reader.status() == "direct seed 1: train 4/500 [00:04<00:09] | tft seed 0: train 3/500 [00:03<00:09]"
    )
    update(w2, 500)
    update(w1, 500)  # both done: the last one written
    assert reader.status() == "direct seed 1: train 500/500 [00:500<00:09]"
    f.close()

"""How long `predict learn` takes on 200 photos: feature extraction and fitting, measured apart.

    PYTHONPATH=. python bench/bench_learn.py       # builds MobileNetV2 224 in a temp dir
    PYTHONPATH=. python bench/bench_learn.py --model models/mobilenet_v2.pnet --fit-rounds 5
    PYTHONPATH=. python bench/bench_learn.py --size 96 --tasks faces,textures,digits,scenes

The 200 photos are scikit-image's lfw_subset (100 faces, 100 non-faces, 25x25 grey arrays, so
decoding is free and preprocessing is a small resize).  Timed, in order:

1. preprocessing alone (resize, crop, normalize) of the 200 photos;
2. features: ``Network.features`` on all 200 (preprocessing + the network, batches of 16);
3. fitting: ``fit_predictor`` on the 200 feature vectors, i.e. 5-fold cross-validation over 11
   penalties (55 fits) plus the final fit, ``--fit-rounds`` times (median and spread);
4. optionally (``--tasks``) the held-out accuracy of each task in tests/learn_tasks.py.

Wall-clock and CPU seconds are both given: on a shared machine the wall clock includes waiting
for a core, CPU time does not (the C core runs on one thread by default).  The conditions are
printed with the figures: the C core's kernels, the CPU, the load average
before and after (this machine is shared; see MEASURING.md), the input size.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # learn_tasks


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def conditions(net):
    from predict import _native

    info = {
        "cpu": cpu_name(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "core_version": _native.version(),
        "model": os.path.basename(net.path), "input": list(net.input_shape),
        "max_batch": net.max_batch,
    }
    try:
        info["cpu_features"] = _native.cpu_features()
    except AttributeError:  # not in every version of the core
        pass
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a .pnet model (default: build MobileNetV2 here)")
    parser.add_argument("--size", type=int, default=224,
                        help="input size of the MobileNetV2 built when --model is not given")
    parser.add_argument("--fit-rounds", type=int, default=3, help="times to repeat the fit")
    parser.add_argument("--tasks", default="", help="comma-separated learn_tasks to score")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    import predict
    from learn_tasks import TASKS
    from predict.image import preprocess_batch
    from predict.learning import fit_predictor
    from skimage import data

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model
        if path is None:
            from converters.default_model import build

            path = os.path.join(tmp, f"mobilenet_v2_{args.size}.pnet")
            build(path, input_size=args.size)
        with predict.load(path, max_batch=16) as net:
            result = {"conditions": conditions(net), "load_before": os.getloadavg()[0]}
            photos = list(data.lfw_subset())
            labels = np.repeat([0, 1], 100)

            started = time.perf_counter()
            preprocess_batch(photos, net.preprocess_spec)
            result["preprocess_seconds"] = time.perf_counter() - started

            net.features(photos[:1])  # builds the features network: not part of the figure
            started, cpu = time.perf_counter(), time.process_time()
            features = net.features(photos)
            result["features_seconds"] = time.perf_counter() - started
            result["features_cpu_seconds"] = time.process_time() - cpu
            result["photos"] = len(photos)

            by_class = {"face": features[labels == 0], "not face": features[labels == 1]}
            fits = []
            cpu = time.process_time()
            for _ in range(max(1, args.fit_rounds)):
                started = time.perf_counter()
                learned = fit_predictor(by_class, net)
                fits.append(time.perf_counter() - started)
            result["fit_cpu_seconds"] = (time.process_time() - cpu) / len(fits)
            result["fit_seconds"] = {"median": statistics.median(fits), "min": min(fits),
                                     "max": max(fits), "rounds": len(fits)}
            result["cv_accuracy_200"] = learned.training["cv_accuracy"]
            result["load_after"] = os.getloadavg()[0]

            result["tasks"] = {}
            for task in filter(None, args.tasks.split(",")):
                train, test = TASKS[task]()
                fitted = fit_predictor({k: net.features(v) for k, v in train.items()}, net)
                correct = total = 0
                for index, group in enumerate(test.values()):
                    guess = fitted.predict_features(net.features(group)).argmax(axis=1)
                    correct += int(np.sum(guess == index))
                    total += len(group)
                result["tasks"][task] = {"held_out_accuracy": correct / total, "correct": correct,
                                         "test": total, "train": sum(map(len, train.values())),
                                         "cv_accuracy": fitted.training["cv_accuracy"]}

    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    c = result["conditions"]
    fit = result["fit_seconds"]
    n = result["photos"]
    flags = f", cpu features {c['cpu_features']}" if "cpu_features" in c else ""
    print(f"model {c['model']} input {c['input']}, batches of {c['max_batch']}, "
          f"core v{c['core_version']}{flags}")
    print(f"cpu {c['cpu']} x{c['cpus']}, python {c['python']}, numpy {c['numpy']}, load average "
          f"{result['load_before']:.2f} before, {result['load_after']:.2f} after")
    print(f"{n} photos (lfw_subset, 25x25 arrays):")
    print(f"  preprocessing   {result['preprocess_seconds']:7.2f} s  "
          f"({1000 * result['preprocess_seconds'] / n:.1f} ms/photo)")
    print(f"  features        {result['features_seconds']:7.2f} s  "
          f"({1000 * result['features_seconds'] / n:.1f} ms/photo, preprocessing included; "
          f"{result['features_cpu_seconds']:.2f} s of CPU)")
    print(f"  fitting         {fit['median']:7.2f} s  (median of {fit['rounds']}, "
          f"{fit['min']:.2f}-{fit['max']:.2f}; {result['fit_cpu_seconds']:.2f} s of CPU; "
          f"5-fold CV x 11 penalties + final fit)")
    print(f"  total           {result['features_seconds'] + fit['median']:7.2f} s; "
          f"cross-validated accuracy {result['cv_accuracy_200']:.3f}")
    for task, r in result["tasks"].items():
        print(f"task {task:<9} held-out accuracy {r['held_out_accuracy']:.3f} "
              f"({r['correct']}/{r['test']}, trained on {r['train']}; cross-validated "
              f"{r['cv_accuracy']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Reads what the demo page posted in scripts/web-check.sh's three browser runs, prints the
adapter and the figures, and exits 1 unless every condition of the check holds.

Usage: web_report.py AUTO_LOG SMALL_LIMITS_LOG NO_WEBGPU_LOG"""
import json
import statistics
import sys


def events(path):
    """The page's events, in order (lines that are not JSON are kept as text)."""
    out = []
    with open(path, encoding='utf-8') as log:
        for line in log:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({'kind': 'text', 'message': line})
    return out


def first(evs, kind):
    return next((e for e in evs if e.get('kind') == kind), None)


def main(auto_log, small_log, plain_log):
    problems = []
    auto = events(auto_log)
    for e in auto:
        if e.get('kind') in ('error', 'page-error', 'refused', 'no-webgpu', 'no-adapter'):
            problems.append(f"the page reported {e['kind']}: {e.get('message')}")
    adapter = first(auto, 'adapter')
    if adapter:
        print(f"adapter: {adapter.get('browser_info')} (wgpu: {adapter['description']})")
        print(f"subgroups: offered {adapter.get('subgroups_offered')}, sizes "
              f"{adapter.get('subgroup_sizes')}, matmul lanes {adapter.get('subgroup_lanes')}")
        limits = dict(adapter['limits'])
        print('  ' + ', '.join(f'{k} {v}' for k, v in limits.items()))
    else:
        problems.append('the page never opened an adapter')

    validation = first(auto, 'validation')
    if validation:
        print(f"validation: {validation['checks']} checks, {validation['failed']} failed, "
              f"{validation['seconds']:.1f} s")
        for failure in validation['failures'][:10]:
            print('  ' + failure.replace('\n', '\n  '))
        if not validation['passed'] or validation['checks'] == 0:
            problems.append('the in-browser validation did not pass')
    else:
        problems.append('no validation result')

    training = first(auto, 'training')
    if training:
        print(f"teacher {'-'.join(map(str, training['teacher']))}: "
              f"{training['teacher_errors']} test errors; students on {training['train_samples']} samples")
        runs = {r['run']: r for r in training['runs']}
        for name in ('scratch', 'distilled'):
            run = runs.get(name)
            if run is None:
                problems.append(f'no {name} student')
                continue
            rates = [e['samples_per_second'] for e in run['epochs']]
            print(f"{name}: {run['test_errors']} / {run['test_count']} test errors, loss "
                  f"{run['first_loss']:.4f} -> {run['last_loss']:.4f}, "
                  f"{statistics.median(rates):.0f} samples/s (median epoch)")
        distilled = runs.get('distilled')
        if distilled and not distilled['last_loss'] < distilled['first_loss']:
            problems.append("the distilled student's loss did not fall")
    else:
        problems.append('no training result')
    if not first(auto, 'done'):
        problems.append('the automatic run did not finish')

    refused = first(events(small_log), 'refused')
    if refused and 'need at least' in refused.get('message', ''):
        print(f"small limits: {refused['message']}")
    else:
        problems.append('an adapter with too small limits was not refused with a message')

    plain = events(plain_log)
    missing = first(plain, 'no-webgpu') or first(plain, 'no-adapter')
    if missing:
        print(f"without WebGPU: {missing['message']}")
    else:
        problems.append('a browser without WebGPU got no message')

    for p in problems:
        print(f'FAILED: {p}', file=sys.stderr)
    return 1 if problems else 0


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))

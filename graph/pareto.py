"""NSGA-II machinery over (validation accuracy up, parameters down, FLOPs down)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

Point = tuple[float, float, float]  # all objectives expressed as "smaller is better"


def objectives(record: Mapping) -> Point:
    return (-float(record["val_acc"]), float(record["params"]), float(record["flops"]))


def dominates(a: Point, b: Point) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def non_dominated_sort(points: Sequence[Point]) -> list[list[int]]:
    """Indices grouped in fronts: front 0 is the Pareto front."""
    n = len(points)
    dominated_by: list[list[int]] = [[] for _ in range(n)]
    counts = [0] * n
    fronts: list[list[int]] = [[]]
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            if dominates(points[i], points[j]):
                dominated_by[i].append(j)
            elif dominates(points[j], points[i]):
                counts[i] += 1
        if counts[i] == 0:
            fronts[0].append(i)
    while fronts[-1]:
        nxt = []
        for i in fronts[-1]:
            for j in dominated_by[i]:
                counts[j] -= 1
                if counts[j] == 0:
                    nxt.append(j)
        fronts.append(nxt)
    return fronts[:-1]


def crowding_distance(points: Sequence[Point], front: Sequence[int]) -> dict[int, float]:
    distance = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: float("inf") for i in front}
    for m in range(len(points[front[0]])):
        ordered = sorted(front, key=lambda i: points[i][m])
        lo, hi = points[ordered[0]][m], points[ordered[-1]][m]
        distance[ordered[0]] = distance[ordered[-1]] = float("inf")
        if hi == lo:
            continue
        for k in range(1, len(ordered) - 1):
            distance[ordered[k]] += (points[ordered[k + 1]][m] - points[ordered[k - 1]][m]) / (hi - lo)
    return distance


def rank_and_crowding(records: Sequence[Mapping]) -> list[tuple[int, float]]:
    """(front rank, crowding distance) for each record, in order."""
    points = [objectives(r) for r in records]
    result: list[tuple[int, float]] = [(0, 0.0)] * len(records)
    for rank, front in enumerate(non_dominated_sort(points)):
        for i, d in crowding_distance(points, front).items():
            result[i] = (rank, d)
    return result


def pareto_front(records: Sequence[Mapping]) -> list[str]:
    """Ids of the non-dominated records, sorted by accuracy, best first."""
    if not records:
        return []
    front = non_dominated_sort([objectives(r) for r in records])[0]
    return [records[i]["id"] for i in sorted(front, key=lambda i: -records[i]["val_acc"])]


def tournament(records: Sequence[Mapping], rng: random.Random, size: int = 2) -> Mapping:
    """Binary tournament: lower front rank wins, then larger crowding distance."""
    ranked = rank_and_crowding(records)
    picks = [rng.randrange(len(records)) for _ in range(min(size, len(records)))]
    best = min(picks, key=lambda i: (ranked[i][0], -ranked[i][1]))
    return records[best]

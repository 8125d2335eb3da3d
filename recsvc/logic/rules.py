"""Business rules at request time, after ranking, in a fixed order (docs/merchandising.md):

1. exclude: candidates an exclude rule matches for this user (segment, lifecycle stage) are dropped;
2. score: each candidate's relevance (1 - rank / candidates, contract.rules.relevance) plus the weights of
   the boost, promote and margin rules that match it, minus those of the bury rules; sorted by that;
3. promote share: a promote rule's items fill at most `max_share` percent of the list's slots (more
   compete without its weight);
4. diversity: at most `max_per_category` items of one category among the first `top_k` (the rest wait
   for a later slot; when no candidate left satisfies a cap, the list is still filled with the best);
5. pins: pinned items are put at their positions last, so they hold whatever the rules above did.

Each returned item lists the rules that changed its score or place (`rules: [ids]`).

A rule set is compiled once per (rule set, catalog view): every rule's match becomes a set of item ids,
and the rules for everyone collapse into one item -> (weight, ids) table, so a request pays one dict
lookup per candidate for them. Rules for some users only are kept apart and looked up when the user
is in their audience. The candidates are the first `pool_size(n)` items the ranking offers.
"""

from __future__ import annotations

import threading
from bisect import insort
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from contract import rules as R
from recsvc.store import Catalog

Adjust = dict[str, tuple[float, tuple[str, ...]]]  # item -> (score change, rule ids)
Candidate = tuple[str, float, str | None]  # item, model score, reason


def pool_size(n: int) -> int:
    """How many ranked candidates rules choose from: enough for boosts to reach beyond the first page,
    few enough to keep a request's cost close to one without rules."""
    return max(3 * n, 30)


@dataclass
class Audience:
    segments: frozenset[str]  # empty: everyone

    def includes(self, user_segments: frozenset[str]) -> bool:
        return not self.segments or not self.segments.isdisjoint(user_segments)


@dataclass
class ListRules:
    """The compiled rules of one list (recommendations, similar, ...)."""

    static: Adjust = field(default_factory=dict)  # score rules for everyone, merged
    conditional: list[tuple[Audience, Adjust]] = field(default_factory=list)
    exclude_all: dict[str, str] = field(default_factory=dict)  # item -> rule id, for everyone
    exclude_some: list[tuple[Audience, frozenset[str], str]] = field(default_factory=list)
    promotes: list[tuple[str, frozenset[str], float, float, Audience]] = field(default_factory=list)
    diversity: list[tuple[str, int, int, Audience]] = field(default_factory=list)
    pins: list[tuple[int, str, str, Audience]] = field(default_factory=list)  # (position, item, rule id)
    needs_segments: bool = False

    @property
    def empty(self) -> bool:
        return not (self.static or self.conditional or self.exclude_all or self.exclude_some or self.promotes) and not (
            self.diversity or self.pins
        )


@dataclass
class Compiled:
    rules: R.StoredRules | None
    lists: dict[str, ListRules]
    margin_scale: float
    catalog: Catalog | None = None  # the view it was compiled for (the cache checks identity)

    def for_list(self, name: str) -> ListRules | None:
        lr = self.lists.get(name)
        return None if lr is None or lr.empty else lr


# -- compiling -------------------------------------------------------------------------------------------------
def _matches(match: R.Match, catalog: Catalog) -> frozenset[str]:
    """The ids of the catalog's items that satisfy every criterion of `match`."""
    only_items = not (match.categories or match.brands or match.tags or match.price or match.margin)
    if only_items:
        return frozenset(i for i in match.items if i in catalog.items)
    candidates: Iterable[str] = match.items if match.items else catalog.items
    cats, brands, tags = set(match.categories), set(match.brands), set(match.tags)
    out = []
    attrs = catalog.attributes
    for item in candidates:
        entry = catalog.items.get(item)
        if entry is None or (cats and entry[1] not in cats):
            continue
        a = attrs.get(item)
        if brands and (a is None or a.brand not in brands):
            continue
        if tags and (a is None or tags.isdisjoint(a.tags)):
            continue
        if match.price is not None and not match.price.holds(a.price if a else None):
            continue
        if match.margin is not None and not match.margin.holds(a.margin if a else None):
            continue
        out.append(item)
    return frozenset(out)


def _add(table: Adjust, items: Iterable[str], weight: float, rule_id: str) -> None:
    for item in items:
        w, ids = table.get(item, (0.0, ()))
        table[item] = (w + weight, (*ids, rule_id))


def compile_rules(stored: R.StoredRules | None, catalog: Catalog) -> Compiled:
    margins = [a.margin for a in catalog.attributes.values()]
    scale = R.margin_scale(margins)
    lists = {name: ListRules() for name in R.LISTS}
    if stored is None:
        return Compiled(None, lists, scale)
    matched: dict[str, frozenset[str]] = {}
    for rule in stored.rule_set().active():
        audience = Audience(rule.audience())
        if hasattr(rule, "match"):
            matched[rule.id] = _matches(rule.match, catalog)
        for name in R.LISTS:
            if not rule.applies_to(name):
                continue
            lr = lists[name]
            lr.needs_segments |= bool(audience.segments)
            score_table = lr.static if not audience.segments else None
            if score_table is None and isinstance(rule, R.Boost | R.Bury | R.Promote | R.Margin):
                score_table = {}
                lr.conditional.append((audience, score_table))
            if isinstance(rule, R.Boost | R.Promote):
                _add(score_table, matched[rule.id], rule.weight, rule.id)
                if isinstance(rule, R.Promote):
                    lr.promotes.append((rule.id, matched[rule.id], rule.max_share, rule.weight, audience))
            elif isinstance(rule, R.Bury):
                _add(score_table, matched[rule.id], -rule.weight, rule.id)
            elif isinstance(rule, R.Margin):
                for item, a in catalog.attributes.items():
                    if a.margin is not None and a.margin > 0 and item in catalog.items:
                        _add(score_table, (item,), rule.weight * min(a.margin / scale, 1.0), rule.id)
            elif isinstance(rule, R.Exclude):
                if audience.segments:
                    lr.exclude_some.append((audience, matched[rule.id], rule.id))
                else:
                    for item in matched[rule.id]:
                        lr.exclude_all.setdefault(item, rule.id)
            elif isinstance(rule, R.Diversity):
                lr.diversity.append((rule.id, rule.max_per_category, rule.top_k, audience))
            elif isinstance(rule, R.Pin):
                lr.pins.append((rule.position, rule.item, rule.id, audience))
    for lr in lists.values():
        lr.pins.sort()
    return Compiled(stored, lists, scale, catalog)


_cache_lock = threading.Lock()
_cache: dict[tuple, Compiled] = {}


def compiled_for(stored: R.StoredRules | None, catalog: Catalog) -> Compiled:
    """The compiled rules for this catalog view, compiled once per (rule set, view)."""
    key = (id(stored), id(catalog))
    hit = _cache.get(key)
    if hit is not None and hit.rules is stored and hit.catalog is catalog:
        return hit
    compiled = compile_rules(stored, catalog)
    with _cache_lock:
        if len(_cache) >= 8:
            _cache.clear()
        _cache[key] = compiled
    return compiled


# -- applying --------------------------------------------------------------------------------------------------
def apply(
    lr: ListRules,
    candidates: Sequence[Candidate],
    catalog: Catalog,
    n: int,
    category: str | None,
    skip: Iterable[str],
    user_segments: frozenset[str] = frozenset(),
    reason_of: Callable[[str, object], str | None] | None = None,
) -> list[dict]:
    """The final list of up to n entries from filtered, ranked candidates (see the module docstring).

    A candidate's third element is its reason, or what `reason_of(item, it)` turns into one (so that
    only the n shown get their text built)."""
    conditional = [t for a, t in lr.conditional if a.includes(user_segments)] if lr.conditional else []
    excluded_some = [s for a, s, _ in lr.exclude_some if a.includes(user_segments)] if lr.exclude_some else []
    exclude_all = lr.exclude_all
    static = lr.static
    step = 1.0 / max(len(candidates), 1)
    scored = []
    append = scored.append
    for pos, (item, score, reason) in enumerate(candidates):
        if item in exclude_all or (excluded_some and any(item in s for s in excluded_some)):
            continue
        adj = 1.0 - pos * step  # contract.rules.relevance, inlined on the hot path
        hit = static.get(item)
        if hit is None:
            ids: tuple[str, ...] = ()
        else:
            adj += hit[0]
            ids = hit[1]
        for table in conditional:
            hit = table.get(item)
            if hit is not None:
                adj += hit[0]
                ids = (*ids, *hit[1])
        append((adj, -pos, item, score, reason, ids))
    if static or conditional:
        scored.sort(reverse=True)  # best adjusted score first; ties keep the ranking's order (-pos)
    promotes = [p for p in lr.promotes if p[4].includes(user_segments)]
    diversity = [d for d in lr.diversity if d[3].includes(user_segments)]
    pins = _showable_pins(lr.pins, user_segments, n, catalog, category, skip, exclude_all, excluded_some)
    pinned_items = {item for _, item, _, _ in pins}
    chosen = _select(scored, n - len(pins), n, promotes, diversity, catalog, pinned_items)
    if pins:
        chosen = _place_pins(chosen, pins, scored)
    items = catalog.items
    out = []
    for item, score, reason, ids in chosen[:n]:
        title, cat, _ = items[item]
        entry = {"item_id": item, "score": score, "title": title, "category": cat}
        if reason_of is not None:
            reason = reason_of(item, reason)
        if reason is not None:
            entry["reason"] = reason
        entry["rules"] = list(dict.fromkeys(ids))
        out.append(entry)
    return out


def _select(scored: list, slots: int, n: int, promotes: list, diversity: list, catalog: Catalog, pinned: set) -> list:
    """Greedy: each slot takes the best-scored candidate that no cap holds back (see the module docstring).

    One pass over the sorted candidates: an item a diversity cap holds back, or whose promote share is full
    (it then competes without the rule's weight), waits in `waiting` (kept sorted by score) and is taken
    from there once the cap allows it and nothing better comes."""
    remaining = [s for s in scored if s[2] not in pinned] if pinned else scored
    if not promotes and not diversity:
        return [(s[2], s[3], s[4], s[5]) for s in remaining[:slots]]
    items = catalog.items
    caps = {rule_id: int(n * share / 100.0) for rule_id, _, share, _, _ in promotes}
    used = dict.fromkeys(caps, 0)
    promo_of: dict[str, list[tuple[str, float]]] = {}
    for rule_id, members, _, weight, _ in promotes:
        for s in remaining:
            if s[2] in members:
                promo_of.setdefault(s[2], []).append((rule_id, weight))
    div = [[rule_id, cap, top_k, {}] for rule_id, cap, top_k, _ in diversity]  # id, max, top k, counts

    def full_at(pos: int) -> dict[str, str]:
        """Categories no more items may join at this position -> the diversity rule holding them."""
        out: dict[str, str] = {}
        for rule_id, cap, top_k, counts in div:
            if pos < top_k:
                for cat, count in counts.items():
                    if count >= cap:
                        out.setdefault(cat, rule_id)
        return out

    waiting: list[tuple[float, int, tuple, tuple, tuple]] = []  # (-score, seq, candidate, rule ids, waited for)
    chosen: list[tuple] = []
    i, seq, total = 0, 0, len(remaining)
    full = full_at(0)
    while len(chosen) < slots:
        pos = len(chosen)
        w_best = next((k for k, w in enumerate(waiting) if items[w[2][2]][1] not in full), None) if waiting else None
        head = None
        while i < total:
            s = remaining[i]
            item, eff, ids = s[2], s[0], s[5]
            promoted = promo_of.get(item)
            if promoted and any(used[r] >= caps[r] for r, _ in promoted):
                for rule_id, weight in promoted:
                    if used[rule_id] >= caps[rule_id] and rule_id in ids:
                        eff -= weight
                        ids = tuple(x for x in ids if x != rule_id)
                if eff < s[0]:  # demoted: it waits at its new score
                    i += 1
                    insort(waiting, (-eff, seq, s, ids, ()))
                    seq += 1
                    w_best = next((k for k, w in enumerate(waiting) if items[w[2][2]][1] not in full), None)
                    continue
            holder = full.get(items[item][1]) if full else None
            if holder is not None:
                i += 1
                waiting.append((-eff, seq, s, ids, (holder,)))  # scores only fall along the stream
                seq += 1
                continue
            head = (eff, s, ids)
            break
        w = waiting[w_best] if w_best is not None else None
        if head is not None and (w is None or head[0] >= -w[0]):
            eff, s, ids = head
            i += 1
            held = ()
        elif w is not None or waiting:
            # from the waiting items; when none satisfies the caps the list is still filled, with the best
            w = waiting.pop(w_best if w is not None else 0)
            eff, s, ids, held = -w[0], w[2], w[3], (w[4] if w_best is not None else ())
            full_share = [(r, wt) for r, wt in promo_of.get(s[2], ()) if r in ids and used[r] >= caps[r]]
            if full_share:  # its promote share filled while it waited: it waits again, without the weight
                eff -= sum(wt for _, wt in full_share)
                ids = tuple(x for x in ids if all(x != r for r, _ in full_share))
                insort(waiting, (-eff, seq, s, ids, w[4]))
                seq += 1
                continue
        else:
            break
        # a diversity rule touched the pick when it waited, or when a better-scored item waits for it
        passed = waiting[0][4] if waiting and -waiting[0][0] > eff else ()
        item = s[2]
        for rule_id in ids:
            if rule_id in used:
                used[rule_id] += 1
        if div:
            cat = items[item][1]
            changed = False
            for d in div:
                if pos < d[2]:
                    count = d[3][cat] = d[3].get(cat, 0) + 1
                    changed |= count >= d[1] or pos + 1 == d[2]
            if changed:  # a category filled up, or a window ended
                full = full_at(pos + 1)
        chosen.append((item, s[3], s[4], (*ids, *held, *passed)))
    return chosen


def _showable_pins(
    pins: list,
    user_segments: frozenset[str],
    n: int,
    catalog: Catalog,
    category: str | None,
    skip: Iterable[str],
    exclude_all: dict,
    excluded_some: list,
) -> list:
    """The pins for this user whose item may be shown here (available, in the category, not excluded)."""
    if not pins:
        return []
    allowed = catalog.available.get(category, frozenset())
    skip = set(skip)
    out = []
    for pin in pins:
        position, item, _, audience = pin
        if position > n or not audience.includes(user_segments) or item not in allowed or item in skip:
            continue
        if item in exclude_all or any(item in s for s in excluded_some):
            continue
        out.append(pin)
    return out


def _place_pins(chosen: list, pins: list, scored: list) -> list:
    """Each pinned item at its position (pins in position order, so earlier ones keep theirs)."""
    scores = {s[2]: (s[3], s[4]) for s in scored}
    out = list(chosen)
    for position, item, rule_id, _ in pins:
        score, reason = scores.get(item, (0.0, None))
        out.insert(min(position - 1, len(out)), (item, score, reason, (rule_id,)))
    return out


# -- margin --------------------------------------------------------------------------------------------------
def expected_margin(entries: Sequence[dict], catalog: Catalog) -> float | None:
    """Position-weighted mean margin of a list (contract.rules.position_weights); None without margins."""
    if not entries:
        return None
    weights = R.position_weights(len(entries))
    total = 0.0
    known = False
    for w, e in zip(weights, entries):
        a = catalog.attributes.get(e["item_id"])
        if a is not None and a.margin is not None:
            total += w * a.margin
            known = True
    return round(total, 4) if known else None

"""Generate ``examples/reviews.csv``: 300 product reviews with a gold sentiment label.

The texts are seeded random combinations of hand-written sentences, so the file is the same on
every run and on every machine (no network). The words "positive", "negative" and "neutral"
never appear in a title or text, so a model that only looks for the label word scores about
chance; the label has to be read from what the review says.

Run from the repository root::

    python examples/make_reviews.py            # writes examples/reviews.csv
    python examples/make_reviews.py -o x.csv   # somewhere else
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

SEED = 20261126
N_ROWS = 300
LABELS = ("positive", "negative", "neutral")
LABEL_WEIGHTS = (0.45, 0.32, 0.23)
RATINGS = {
    "positive": ((5, 4), (0.6, 0.4)),
    "negative": ((1, 2), (0.55, 0.45)),
    "neutral": ((3,), (1.0,)),
}
SENTENCE_COUNTS = ((1, 2, 3, 4, 5), (0.17, 0.27, 0.28, 0.17, 0.11))
SHORT_SHARE = 0.05
COLUMNS = ("review_id", "product", "rating", "title", "text", "label")
FORBIDDEN = re.compile(r"positive|negative|neutral", re.IGNORECASE)

# Per product: (object pronoun, {label: sentences about this product}).
PRODUCTS: dict[str, tuple[str, dict[str, list[str]]]] = {
    "Espresso Machine": (
        "it",
        {
            "positive": [
                "Pulls a proper shot with thick crema in under a minute.",
                "My morning café-style latte now costs me about forty cents.",
                "The steam wand is strong enough for real microfoam.",
                "Warm-up is quick, and the drip tray is easy to empty.",
            ],
            "negative": [
                "The pump started rattling after three weeks, and the shots ran thin.",
                'The manual promises "barista quality", which is generous to say the least.',
                "Water leaks from under the group head every single time.",
                "The portafilter handle cracked when I tamped a little too hard.",
            ],
            "neutral": [
                "Shots are decent once you find the right grind, though it takes a while to get there.",
                "It does what an entry-level machine does, nothing more.",
                "The steam wand works, but it is slow compared with my old one.",
                "Fine for one person; a little fiddly if you make drinks for a crowd.",
            ],
        },
    ),
    "Wireless Earbuds": (
        "them",
        {
            "positive": [
                "Battery easily lasts a full workday of calls.",
                "They pair instantly with my phone and my laptop.",
                "The sound is clear and the bass is punchy without being muddy.",
                "They stayed put through a 10k run in the rain.",
            ],
            "negative": [
                "The left bud drops the connection every few minutes.",
                "The case stopped charging after a month.",
                'Noise cancelling is more of a "noise suggestion".',
                "They hurt my ears after twenty minutes, whatever tip size I use.",
            ],
            "neutral": [
                "Sound is about what you expect at this price.",
                "Battery life matches the box, no more, no less.",
                "The touch controls work, though I trigger them by accident now and then.",
                "Comfortable enough for a commute, not for a long flight.",
            ],
        },
    ),
    "Hiking Boots": (
        "them",
        {
            "positive": [
                "Broke in within two short walks and no blisters since.",
                "Kept my feet dry through a soggy weekend in the Pyrenees.",
                "The grip on wet rock is excellent.",
                "Light enough that I forget I'm wearing proper boots.",
            ],
            "negative": [
                "The sole started peeling away from the toe after one season.",
                'They are sold as "waterproof", yet my socks were soaked in an hour.',
                "The laces frayed through on the second trip.",
                "Sizing runs a full size small, and the return was a hassle.",
            ],
            "neutral": [
                "Comfortable on trails, a bit stiff on pavement.",
                "They look sturdier than they feel, but they have held up so far.",
                "Decent ankle support; the tongue tends to slide to one side.",
                "Good for day hikes, probably not for anything longer.",
            ],
        },
    ),
    "Office Chair": (
        "it",
        {
            "positive": [
                "My lower back pain is gone after two weeks of long days.",
                "Assembly took fifteen minutes, and every bolt lined up.",
                "The mesh back stays cool even in August.",
                "Armrests adjust in every direction I could want.",
            ],
            "negative": [
                "The gas lift sinks slowly through the day, so I end up at desk level.",
                "One caster snapped off in the first week.",
                "The seat cushion flattened into a pancake within a month.",
                "It squeaks every time I lean back, and tightening the screws does nothing.",
            ],
            "neutral": [
                "It is comfortable for a few hours, less so for a full day.",
                "Assembly was straightforward, though the instructions are a bit vague.",
                "The lumbar support is there, just not very adjustable.",
                "Looks smarter in the photos than in my home office.",
            ],
        },
    ),
    "Cast Iron Skillet": (
        "it",
        {
            "positive": [
                "Sears a steak beautifully and goes straight into the oven.",
                "The factory seasoning was good enough to fry eggs on day one.",
                "Made a tarte Tatin in it and it slid right out.",
                "It heats evenly once it is up to temperature.",
            ],
            "negative": [
                "Rust spots appeared after the very first wash.",
                "The surface is rough and everything sticks, seasoning or not.",
                "It arrived with a chip in the rim and a wobble on flat burners.",
                "The handle gets hot enough to burn through a tea towel.",
            ],
            "neutral": [
                "Heavy, as expected, and it does the job.",
                "It needed a few rounds of seasoning before it behaved.",
                "Good for searing; I still reach for nonstick when I make crêpes.",
                "Nothing special, but it was cheap and it cooks.",
            ],
        },
    ),
    "E-Reader": (
        "it",
        {
            "positive": [
                "The screen is crisp and easy on the eyes at night.",
                "Battery lasts weeks; I charge it once a month.",
                "I read Les Misérables on it in one summer without eye strain.",
                "Page turns are fast and the backlight is perfectly even.",
            ],
            "negative": [
                "It freezes on the home screen about once a day.",
                "The screen cracked inside a padded sleeve.",
                "Half my library will not sync, and support keeps sending the same article.",
                "The backlight has a yellow blotch in one corner.",
            ],
            "neutral": [
                "It is a reader; it shows books, and that is about it.",
                "The screen is fine, the store is cluttered.",
                "Page turns lag a little, which you get used to.",
                "Works well for novels, less well for PDFs and comics.",
            ],
        },
    ),
    "Yoga Mat": (
        "it",
        {
            "positive": [
                "Grippy even in a hot class, and no chemical smell.",
                "Thick enough for my knees without feeling wobbly in balances.",
                "It rolls up tight and the strap is a nice touch.",
                "Still looks new after six months of daily practice.",
            ],
            "negative": [
                "The surface started flaking after a month.",
                "It smelled like a tyre shop for two weeks.",
                "It curls at the ends no matter how long I leave it flat.",
                "I slide around in downward dog as soon as my hands are damp.",
            ],
            "neutral": [
                "A perfectly ordinary mat.",
                "Grip is okay when dry, less so when I sweat.",
                "A bit thin for my knees, fine for everything else.",
                "The colour is darker than in the pictures, otherwise as described.",
            ],
        },
    ),
    "Electric Kettle": (
        "it",
        {
            "positive": [
                "Boils a full litre in about three minutes, and it is quiet.",
                "The temperature presets are spot on for green tea.",
                "No plastic taste, even on day one.",
                "It switches off reliably, and the handle stays cool.",
            ],
            "negative": [
                "The lid latch broke within a month, so it no longer switches off.",
                "Water tastes of plastic no matter how many times I boil and discard.",
                "It started leaking from the base, which is frightening in a kettle.",
                "The limescale filter fell out on the first pour.",
            ],
            "neutral": [
                "It boils water, which is all I asked of it.",
                "A bit louder than my old one, but faster.",
                "The gauge is hard to read, otherwise no complaints.",
                "Looks nice on the counter; the cord is on the short side.",
            ],
        },
    ),
    "Travel Backpack": (
        "it",
        {
            "positive": [
                "Fits the airline carry-on sizer with a few centimetres to spare.",
                "Carried it through Kraków and Lisbon for three weeks without a sore shoulder.",
                "The laptop sleeve opens flat, so security checks are painless.",
                "Zips are smooth and the fabric shrugs off rain.",
            ],
            "negative": [
                "The main zip split on the second day of the trip.",
                "There is no padding on the back, so anything boxy digs in.",
                'The "water-resistant" fabric let a light shower soak my clothes.',
                "A strap seam came apart at the airport, with a full load inside.",
            ],
            "neutral": [
                "Lots of pockets, maybe too many to keep track of.",
                "Comfortable when half full, less so when packed to the brim.",
                "Solid enough, if a little heavy when empty.",
                "It does the job for weekend trips.",
            ],
        },
    ),
    "Desk Lamp": (
        "it",
        {
            "positive": [
                "The warm setting is lovely for evening reading.",
                "It lights my whole desk evenly with no flicker on camera.",
                "The arm holds any position without drooping.",
                "The dimmer goes low enough for a night light.",
            ],
            "negative": [
                "It flickers at every brightness below half.",
                "The touch button responds about one time in three.",
                "The arm droops within minutes, so it ends up pointing at the floor.",
                "The LED died after two months of light use.",
            ],
            "neutral": [
                "Bright enough, though the light is a little cold for my taste.",
                "The base takes up more room than I expected.",
                "It works; the touch controls take some getting used to.",
                "A plain lamp at a plain price.",
            ],
        },
    ),
}

GENERIC: dict[str, list[str]] = {
    "positive": [
        "I would buy {obj} again without a second thought.",
        "Worth every cent.",
        "Already recommended {obj} to two friends.",
        "Delivery was quick, and the packaging was minimal.",
        "Exceeded my expectations, and I had read plenty of reviews first.",
        "My partner, who is hard to please, loves {obj} too.",
        'Honestly, I was naïve to think it would be "just okay"; it is great.',
        "Bought {obj} for my flat in São Paulo and have had zero issues.",
        "Five months in and still happy.",
        "Great value for the money.",
    ],
    "negative": [
        "I have asked for a refund.",
        "Customer service took ten days to reply, then closed the ticket.",
        "Save your money.",
        "It looked fine in the shop, but the quality just is not there.",
        "Call me naïve, but I expected more for the price.",
        'The listing says "premium materials", and I would love to know which ones.',
        "Returned {obj} after a week.",
        "Second one I've bought, and the same fault, so it is not bad luck.",
        "Really disappointed, because the reviews looked so good.",
        "Would not recommend {obj} to anyone.",
    ],
    "neutral": [
        "It is fine, nothing more.",
        "Does what it says, no surprises either way.",
        "Some good points, some annoyances.",
        "I may or may not buy {obj} again.",
        "Okay for the price; I am not sure I would pay full price.",
        "Hard to say whether it beats the cheaper options.",
        'It is, as my friend Zoë put it, "a perfectly average purchase".',
        "Arrived on time, works as described.",
        "Not bad, not great.",
        "Time will tell how long {obj} lasts.",
    ],
}

SHORT: dict[str, list[str]] = {
    "positive": ["Love it!", "Superb.", "Très bien.", "Brilliant buy."],
    "negative": ["Broke in a week.", "Junk.", "Avoid.", "Total waste."],
    "neutral": ["Meh.", "It's okay.", "Fine.", "As described."],
}

TITLES: dict[str, list[str]] = {
    "positive": [
        "Exactly what I wanted",
        "Love it, love it, love it",
        "Best purchase this year",
        "Great value",
        "Does everything well",
        "Five stars, easily",
        "A real upgrade",
        'Finally, a "buy it for life" product',
        "Très bon rapport qualité-prix",
        "Happy customer",
    ],
    "negative": [
        "Broke too soon",
        "Not worth it",
        "Disappointed",
        "Avoid this one",
        '"Premium"? Not really',
        "Returned it",
        "Poor quality control",
        "Should have read the reviews",
        "Waste of money, sadly",
        "Stopped working",
    ],
    "neutral": [
        "Good, not great",
        "It's okay",
        "Does the job",
        "Average, and that's fine",
        "Mixed feelings",
        "Some pros, some cons",
        "As expected",
        "Not bad for the price",
        "Serviceable",
        "Fine, I suppose",
    ],
}


def review_text(rng: random.Random, product: str, label: str) -> str:
    """One review text for ``product`` with sentiment ``label``.

    >>> review_text(random.Random(0), "Yoga Mat", "neutral") != ""
    True
    """
    if rng.random() < SHORT_SHARE:
        return rng.choice(SHORT[label])
    obj, specific = PRODUCTS[product]
    n = rng.choices(*SENTENCE_COUNTS)[0]
    opening = rng.choice(specific[label])
    rest = [s for s in specific[label] if s != opening] + GENERIC[label]
    sentences = [opening, *rng.sample(rest, n - 1)]
    if label == "neutral" and n >= 3:
        # A mixed review: one good and one bad detail, then a hedge.
        # Index i pairs with i + 2: the fragment lists are ordered so such pairs never clash.
        i = rng.randrange(len(specific["positive"]))
        sentences[1] = specific["positive"][i]
        bad = specific["negative"][(i + 2) % len(specific["negative"])]
        sentences[2] = "On the other hand, " + _lower_first(bad)
    return " ".join(s.format(obj=obj) for s in sentences)


def _lower_first(sentence: str) -> str:
    if sentence.startswith(("I ", "I'm ")):
        return sentence
    i = 1 if sentence.startswith('"') else 0
    return sentence[:i] + sentence[i].lower() + sentence[i + 1 :]


def make_rows(n: int = N_ROWS, seed: int = SEED) -> list[dict[str, str | int]]:
    """``n`` review rows as dicts with the keys in ``COLUMNS``; the same for the same seed.

    >>> make_rows(3)[0]["review_id"]
    'r0001'
    """
    rng = random.Random(seed)
    products = list(PRODUCTS)
    rows: list[dict[str, str | int]] = []
    for i in range(1, n + 1):
        label = rng.choices(LABELS, LABEL_WEIGHTS)[0]
        product = rng.choice(products)
        values, weights = RATINGS[label]
        row: dict[str, str | int] = {
            "review_id": f"r{i:04d}",
            "product": product,
            "rating": rng.choices(values, weights)[0],
            "title": rng.choice(TITLES[label]),
            "text": review_text(rng, product, label),
            "label": label,
        }
        for key in ("title", "text"):
            if FORBIDDEN.search(str(row[key])):
                raise AssertionError(f"label word in {key} of {row['review_id']}: {row[key]!r}")
        rows.append(row)
    return rows


def write_csv(path: Path, rows: list[dict[str, str | int]]) -> None:
    """Write ``rows`` as UTF-8 CSV with ``\\n`` line endings, quoting only where needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    default = Path(__file__).with_name("reviews.csv")
    parser.add_argument("-o", "--output", type=Path, default=default)
    parser.add_argument("-n", "--rows", type=int, default=N_ROWS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    write_csv(args.output, make_rows(args.rows, args.seed))


if __name__ == "__main__":
    main()

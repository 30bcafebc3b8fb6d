"""The simulated population: members (registration, profile, habits) and gyms, all derived from the seed."""

from __future__ import annotations

import hashlib
import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

PROFILE_FIELDS = ("dob", "sex", "gender", "first_name", "last_name", "street_address", "city", "state", "zip")

FIRST_NAMES = {
    "F": ("Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
          "Lisa", "Nancy", "Sandra", "Ashley", "Emily", "Michelle", "Amanda", "Melissa", "Laura", "Olivia", "Sofia",
          "Grace", "Chloe", "Maya", "Aisha", "Mei", "Lucia", "Hannah", "Zoe", "Nora"),
    "M": ("James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas", "Charles",
          "Daniel", "Matthew", "Anthony", "Mark", "Steven", "Paul", "Andrew", "Joshua", "Kevin", "Brian", "Diego",
          "Ethan", "Noah", "Liam", "Omar", "Wei", "Mateo", "Samuel", "Lucas", "Owen"),
}  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Chen",
)  # fmt: skip
STREETS = ("Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset", "Lincoln",
           "Jackson", "River", "Highland", "Church", "Willow", "Meadow", "Forest", "Spring")  # fmt: skip
STREET_SUFFIXES = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way")
# (city, two-letter state, first three digits of its zip codes)
CITIES = (
    ("New York", "NY", "100"), ("Buffalo", "NY", "142"), ("Los Angeles", "CA", "900"), ("San Diego", "CA", "921"),
    ("San Francisco", "CA", "941"), ("Chicago", "IL", "606"), ("Houston", "TX", "770"), ("Austin", "TX", "787"),
    ("Dallas", "TX", "752"), ("Phoenix", "AZ", "850"), ("Philadelphia", "PA", "191"), ("Pittsburgh", "PA", "152"),
    ("Seattle", "WA", "981"), ("Portland", "OR", "972"), ("Denver", "CO", "802"), ("Boston", "MA", "021"),
    ("Miami", "FL", "331"), ("Orlando", "FL", "328"), ("Atlanta", "GA", "303"), ("Nashville", "TN", "372"),
    ("Minneapolis", "MN", "554"), ("Detroit", "MI", "482"), ("Columbus", "OH", "432"), ("Charlotte", "NC", "282"),
    ("Las Vegas", "NV", "891"), ("Salt Lake City", "UT", "841"), ("Kansas City", "MO", "641"), ("Omaha", "NE", "681"),
    ("Albuquerque", "NM", "871"), ("Baltimore", "MD", "212"), ("Milwaukee", "WI", "532"), ("Boise", "ID", "837"),
)  # fmt: skip
GENDERS = {"F": ("F", "Female", "female", "woman", "Woman"), "M": ("M", "Male", "male", "man", "Man")}
OTHER_GENDERS = ("non-binary", "Nonbinary", "genderqueer", "prefer not to say", "")
PREFERENCES = ("morning", "lunch", "evening")


@dataclass
class Member:
    """One registered member: what the source database holds plus the habits that drive their events."""

    user_id: int
    device_id: int
    mac_address: str
    registration_timestamp: float
    profile: dict[str, str]
    active: bool = True
    home_gym: int = 1
    visits_per_week: float = 3.0
    preference: str = "evening"
    outside_workouts_per_week: float = 0.5
    fitness: float = 0.5  # 0..1, lowers the resting rate and raises effort
    partitions: tuple[int, int, int] = (0, 0, 0)  # Kafka partition of this member's bpm, workout and gym keys
    key_device: bytes = field(default=b"", repr=False)
    key_user: bytes = field(default=b"", repr=False)
    key_mac: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        self.key_device = str(self.device_id).encode()
        self.key_user = str(self.user_id).encode()
        self.key_mac = self.mac_address.encode()

    def place(self, partition_counts: tuple[int, int, int]) -> None:
        """Pick the partitions librdkafka's default partitioner would (CRC-32 of the key), so records can be
        produced in per-partition batches."""
        keys = (self.key_device, self.key_user, self.key_mac)
        self.partitions = tuple(zlib.crc32(k) % n for k, n in zip(keys, partition_counts, strict=True))

    def age_on(self, day: date) -> float:
        try:
            dob = date.fromisoformat(self.profile.get("dob") or "")
        except ValueError:
            return 40.0
        return max(10.0, (day - dob).days / 365.25)

    def heart_rates(self, day: date) -> tuple[float, float]:
        """(resting, max) beats per minute: resting falls with fitness, max falls with age (Tanaka: 208 - 0.7 age)."""
        age = self.age_on(day)
        resting = 78.0 - 22.0 * self.fitness + 0.08 * (age - 40)
        return resting, 208.0 - 0.7 * age


def seeded_rng(*parts: object) -> random.Random:
    """An independent generator for one purpose, e.g. (seed, "day", user_id, day): stable across runs and versions,
    and cheaper to seed than a string seed (one 8-byte hash instead of SHA-512 over the text)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def member_rng(seed: int, purpose: str, user_id: int) -> random.Random:
    return seeded_rng(seed, purpose, user_id)


def device_id_for(user_id: int) -> int:
    """Wristband serials: unique per user, not equal to the user id."""
    return 1_000_000 + user_id


def mac_for(seed: int, user_id: int) -> str:
    """A unique lower-case MAC: three seeded bytes (locally administered) and the user id in the last three."""
    rng = member_rng(seed, "mac", user_id)
    head = [(rng.randrange(256) & 0xFC) | 0x02, rng.randrange(256), rng.randrange(256)]
    tail = [(user_id >> 16) & 0xFF, (user_id >> 8) & 0xFF, user_id & 0xFF]
    return ":".join(f"{b:02x}" for b in head + tail)


def new_profile(rng: random.Random, today: date) -> dict[str, str]:
    """A full profile image for a new member."""
    sex = rng.choice(("F", "M"))
    age_days = int(rng.triangular(15, 85, 33) * 365.25)
    dob = date.fromordinal(today.toordinal() - age_days)
    gender = rng.choice(GENDERS[sex]) if rng.random() < 0.95 else rng.choice(OTHER_GENDERS)
    profile = {"dob": dob.isoformat(), "sex": sex, "gender": gender, "first_name": rng.choice(FIRST_NAMES[sex]),
               "last_name": rng.choice(LAST_NAMES)}  # fmt: skip
    profile.update(new_address(rng))
    return profile


def new_address(rng: random.Random) -> dict[str, str]:
    city, state, zip_prefix = rng.choice(CITIES)
    street = f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_SUFFIXES)}"
    return {"street_address": street, "city": city, "state": state, "zip": f"{zip_prefix}{rng.randint(0, 99):02d}"}


def changed_profile(profile: dict[str, str], rng: random.Random) -> dict[str, str]:
    """The next full image after a realistic edit: a move, a new last name or a gender edit."""
    changed = dict(profile)
    kind = rng.random()
    if kind < 0.6:
        changed.update(new_address(rng))
    elif kind < 0.85:
        changed["last_name"] = rng.choice([n for n in LAST_NAMES if n != profile.get("last_name")])
    else:
        options = GENDERS.get(profile.get("sex", "F"), GENDERS["F"]) + OTHER_GENDERS
        changed["gender"] = rng.choice([g for g in options if g != profile.get("gender")])
    return changed


def create_member(seed: int, user_id: int, registered_at: float, gyms: int, profile: dict[str, str] | None = None,
                  active: bool = True, device_id: int | None = None,
                  mac_address: str | None = None) -> Member:  # fmt: skip
    """A member with habits derived from (seed, user_id); profile, device and MAC are generated unless given (as
    loaded from the source database)."""
    if profile is None:
        today = datetime.fromtimestamp(registered_at, UTC).date()
        profile = new_profile(member_rng(seed, "profile", user_id), today)
    rng = member_rng(seed, "habits", user_id)
    return Member(
        user_id=user_id,
        device_id=device_id_for(user_id) if device_id is None else device_id,
        mac_address=mac_for(seed, user_id) if mac_address is None else mac_address,
        registration_timestamp=registered_at,
        profile=profile,
        active=active,
        home_gym=rng.randint(1, gyms),
        visits_per_week=min(7.0, rng.expovariate(1 / 2.5)),
        preference=rng.choices(PREFERENCES, weights=(4, 2, 5))[0],
        outside_workouts_per_week=rng.choice((0.0, 0.0, 0.5, 1.0, 2.0)),
        fitness=rng.betavariate(2, 2),
    )

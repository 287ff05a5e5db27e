"""dbt's snapshot test scenarios as data: a source table, a strategy, and the changes between runs.

Each scenario replays one test of dbt-tests-adapter 1.20 (``dbt/tests/adapter/simple_snapshot/``
and ``dbt/tests/adapter/basic/test_snapshot_*.py``) with its seed rows, its strategy and its
updates, inserts and deletes, written once in DuckDB SQL against one source table ``src``. The
harness runs dbt on them (``_dbt_driver.py``) and replays the same source states through
civiclake. Where the dbt suite swaps one seed table for another (``--vars seed_name: added``),
the scenario inserts the difference instead: the source states dbt sees are the same.

``snapshot`` runs once after ``create`` and once after each of ``steps`` (an empty step is a
re-run with the source unchanged, as dbt's tests do to show nothing is duplicated).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Strategy = Literal["timestamp", "check"]
HardDeletes = Literal["invalidate", "new_record", "ignore"]


@dataclass(frozen=True)
class Scenario:
    name: str
    origin: str
    """The dbt-tests-adapter test it replays."""
    create: list[str]
    strategy: Strategy
    steps: list[list[str]]
    key: list[str] = field(default_factory=lambda: ["id"])
    updated_at: str | None = None
    """The timestamp strategy's column."""
    check_cols: Literal["all"] | list[str] = "all"
    hard_deletes: HardDeletes = "ignore"
    expected_rows: int | None = None
    """How many snapshot rows dbt's own test asserts at the end (checks our replay of it)."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# -- dbt/tests/adapter/basic/files.py -------------------------------------------------------
_BASIC_BASE = """
(1,'Easton','1981-05-20T06:46:51'),(2,'Lillian','1978-09-03T18:10:33'),
(3,'Jeremiah','1982-03-11T03:59:51'),(4,'Nolan','1976-05-06T20:21:35'),
(5,'Hannah','1982-06-23T05:41:26'),(6,'Eleanor','1991-08-10T23:12:21'),
(7,'Lily','1971-03-29T14:58:02'),(8,'Jonathan','1988-02-26T02:55:24'),
(9,'Adrian','1994-02-09T13:14:23'),(10,'Nora','1976-03-01T16:51:39')
"""
_BASIC_ADDED = """
(11,'Mateo','2014-09-07T17:04:27'),(12,'Julian','2000-02-04T11:48:30'),
(13,'Gabriel','2001-07-10T07:32:52'),(14,'Isaac','2002-11-24T03:22:28'),
(15,'Levi','2009-11-15T11:57:15'),(16,'Elizabeth','2005-04-09T03:50:11'),
(17,'Grayson','2019-08-06T19:28:17'),(18,'Dylan','2014-03-01T11:50:41'),
(19,'Jayden','2009-06-06T07:12:49'),(20,'Luke','2003-12-05T21:42:18')
"""
_BASIC_CREATE = [
    "create table src (id integer, name varchar, some_date timestamp)",
    f"insert into src values {_BASIC_BASE}",
]
_BASIC_STEPS = [
    [f"insert into src values {_BASIC_ADDED}"],  # point at the "added" seed
    ["update src set some_date = some_date + interval '1 hour' where id > 10 and id < 21"],
    ["update src set name = name || '_updated' where id < 11"],  # some_date not moved
]


def _basic(name: str, origin: str, expected: int, **strategy: Any) -> Scenario:
    return Scenario(
        name=name,
        origin=f"basic/{origin}",
        create=_BASIC_CREATE,
        steps=_BASIC_STEPS,
        expected_rows=expected,
        **strategy,
    )


BASIC = [
    _basic(
        "basic_timestamp",
        "test_snapshot_timestamp.py::test_snapshot_timestamp",
        30,
        strategy="timestamp",
        updated_at="some_date",
    ),
    _basic(
        "basic_check_all",
        "test_snapshot_check_cols.py (cc_all_snapshot)",
        40,
        strategy="check",
        check_cols="all",
    ),
    _basic(
        "basic_check_name",
        "test_snapshot_check_cols.py (cc_name_snapshot)",
        30,
        strategy="check",
        check_cols=["name"],
    ),
    _basic(
        "basic_check_date",
        "test_snapshot_check_cols.py (cc_date_snapshot)",
        30,
        strategy="check",
        check_cols=["some_date"],
    ),
]

# -- dbt/tests/adapter/simple_snapshot/seeds.py and test_snapshot.py ------------------------
_SEED = """
(1,'Judith','Kennedy','jkennedy0@phpbb.com','Female','54.60.24.128','2015-12-24'),
(2,'Arthur','Kelly','akelly1@eepurl.com','Male','62.56.24.215','2015-10-28'),
(3,'Rachel','Moreno','rmoreno2@msu.edu','Female','31.222.249.23','2016-04-05'),
(4,'Ralph','Turner','rturner3@hp.com','Male','157.83.76.114','2016-08-08'),
(5,'Laura','Gonzales','lgonzales4@howstuffworks.com','Female','30.54.105.168','2016-09-01'),
(6,'Katherine','Lopez','klopez5@yahoo.co.jp','Female','169.138.46.89','2016-08-30'),
(7,'Jeremy','Hamilton','jhamilton6@mozilla.org','Male','231.189.13.133','2016-07-17'),
(8,'Heather','Rose','hrose7@goodreads.com','Female','87.165.201.65','2015-12-29'),
(9,'Gregory','Kelly','gkelly8@trellian.com','Male','154.209.99.7','2016-03-24'),
(10,'Rachel','Lopez','rlopez9@themeforest.net','Female','237.165.82.71','2016-08-20'),
(11,'Donna','Welch','dwelcha@shutterfly.com','Female','103.33.110.138','2016-02-27'),
(12,'Russell','Lawrence','rlawrenceb@qq.com','Male','189.115.73.4','2016-06-11'),
(13,'Michelle','Montgomery','mmontgomeryc@scientificamerican.com','Female','243.220.95.82',
 '2016-06-18'),
(14,'Walter','Castillo','wcastillod@pagesperso-orange.fr','Male','71.159.238.196','2016-10-06'),
(15,'Robin','Mills','rmillse@vkontakte.ru','Female','172.190.5.50','2016-10-31'),
(16,'Raymond','Holmes','rholmesf@usgs.gov','Male','148.153.166.95','2016-10-03'),
(17,'Gary','Bishop','gbishopg@plala.or.jp','Male','161.108.182.13','2016-08-29'),
(18,'Anna','Riley','arileyh@nasa.gov','Female','253.31.108.22','2015-12-11'),
(19,'Sarah','Knight','sknighti@foxnews.com','Female','222.220.123.177','2016-09-26'),
(20,'Phyllis','Fox',null,'Female','163.191.232.95','2016-08-21'),
(21,'Judy','Robinson','jrobinsonk@blogs.com','Female','208.21.192.232','2016-09-18'),
(22,'Kevin','Alvarez','kalvarezl@buzzfeed.com','Male','228.106.146.9','2016-07-29'),
(23,'Barbara','Carr','bcarrm@pen.io','Female','106.165.140.17','2015-09-24'),
(24,'William','Watkins','wwatkinsn@guardian.co.uk','Male','78.155.84.6','2016-03-08'),
(25,'Judy','Cooper','jcoopero@google.com.au','Female','24.149.123.184','2016-10-05'),
(26,'Shirley','Castillo','scastillop@samsung.com','Female','129.252.181.12','2016-06-20'),
(27,'Justin','Harper','jharperq@opera.com','Male','131.172.103.218','2016-05-21'),
(28,'Marie','Medina','mmedinar@nhs.uk','Female','188.119.125.67','2015-10-08'),
(29,'Kelly','Edwards','kedwardss@phoca.cz','Female','47.121.157.66','2015-09-15'),
(30,'Carl','Coleman','ccolemant@wikipedia.org','Male','82.227.154.83','2016-05-26')
"""
_FACT_CREATE = [
    "create table seed (id integer, first_name varchar, last_name varchar, email varchar,"
    " gender varchar, ip_address varchar, updated_at date)",
    f"insert into seed values {_SEED}",
    "create table src as select * from seed where id between 1 and 20",
]


def _simple(
    name: str, test: str, steps: list[list[str]], expected: int, **strategy: Any
) -> Scenario:
    strategy.setdefault("strategy", "timestamp")
    if strategy["strategy"] == "timestamp":
        strategy.setdefault("updated_at", "updated_at")
        strategy.setdefault("hard_deletes", "invalidate")  # invalidate_hard_deletes=True
    return Scenario(
        name=name,
        origin=f"simple_snapshot/test_snapshot.py::{test}",
        create=_FACT_CREATE,
        steps=steps,
        expected_rows=expected,
        **strategy,
    )


SIMPLE = [
    _simple(
        "simple_updates",
        "test_updates_are_captured_by_snapshot",
        [["update src set updated_at = updated_at + interval '1 day' where id between 16 and 20"]],
        25,
    ),
    _simple(
        "simple_inserts",
        "test_inserts_are_captured_by_snapshot",
        [["insert into src select * from seed where id between 21 and 30"]],
        30,
    ),
    _simple(
        "simple_deletes",
        "test_deletes_are_captured_by_snapshot",
        [["delete from src where id between 16 and 20"]],
        20,
    ),
    _simple(
        "simple_deletes_ignored",
        "test_deletes_are_captured_by_snapshot, with hard_deletes: ignore (dbt's default)",
        [["delete from src where id between 16 and 20"]],
        20,
        hard_deletes="ignore",
    ),
    _simple(
        "simple_revives",
        "test_revives_are_captured_by_snapshot",
        [
            ["delete from src where id between 16 and 20"],
            ["insert into src select * from seed where id between 16 and 18"],
        ],
        23,
    ),
    _simple(
        "simple_new_column",
        "test_new_column_captured_by_snapshot",
        [
            [
                "alter table src add column full_name varchar(200) default null",
                "update src set full_name = first_name || ' ' || last_name,"
                " updated_at = updated_at + interval '1 day' where id between 11 and 20",
            ]
        ],
        30,
    ),
    Scenario(
        name="simple_check_email",
        origin="simple_snapshot/test_snapshot.py::test_column_selection_is_reflected_in_snapshot",
        create=_FACT_CREATE,
        strategy="check",
        check_cols=["email"],
        steps=[
            [
                "update src set last_name = left(last_name, 3) where id between 1 and 10",
                "update src set email = left(email, 3) where id between 6 and 15",
            ]
        ],
        expected_rows=30,
    ),
]

# -- dbt/tests/adapter/simple_snapshot/new_record_*_mode.py ---------------------------------
_NEW_RECORD_CREATE = [
    "create table src (id integer, first_name varchar(50), last_name varchar(50),"
    " email varchar(50), gender varchar(50), ip_address varchar(20), updated_at timestamp)",
    """insert into src values
(1,'Judith','Kennedy','(not provided)','Female','54.60.24.128','2015-12-24 12:19:28'),
(2,'Arthur','Kelly','(not provided)','Male','62.56.24.215','2015-10-28 16:22:15'),
(3,'Rachel','Moreno','rmoreno2@msu.edu','Female','31.222.249.23','2016-04-05 02:05:30'),
(4,'Ralph','Turner','rturner3@hp.com','Male','157.83.76.114','2016-08-08 00:06:51'),
(5,'Laura','Gonzales','lgonzales4@howstuffworks.com','Female','30.54.105.168',
 '2016-09-01 08:25:38'),
(6,'Katherine','Lopez','klopez5@yahoo.co.jp','Female','169.138.46.89','2016-08-30 18:52:11'),
(7,'Jeremy','Hamilton','jhamilton6@mozilla.org','Male','231.189.13.133','2016-07-17 02:09:46'),
(8,'Heather','Rose','hrose7@goodreads.com','Female','87.165.201.65','2015-12-29 22:03:56'),
(9,'Gregory','Kelly','gkelly8@trellian.com','Male','154.209.99.7','2016-03-24 21:18:16'),
(10,'Rachel','Lopez','rlopez9@themeforest.net','Female','237.165.82.71','2016-08-20 15:44:49'),
(11,'Donna','Welch','dwelcha@shutterfly.com','Female','103.33.110.138','2016-02-27 01:41:48'),
(12,'Russell','Lawrence','rlawrenceb@qq.com','Male','189.115.73.4','2016-06-11 03:07:09'),
(13,'Michelle','Montgomery','mmontgomeryc@scientificamerican.com','Female','243.220.95.82',
 '2016-06-18 16:27:19'),
(14,'Walter','Castillo','wcastillod@pagesperso-orange.fr','Male','71.159.238.196',
 '2016-10-06 01:55:44'),
(15,'Robin','Mills','rmillse@vkontakte.ru','Female','172.190.5.50','2016-10-31 11:41:21'),
(16,'Raymond','Holmes','rholmesf@usgs.gov','Male','148.153.166.95','2016-10-03 08:16:38'),
(17,'Gary','Bishop','gbishopg@plala.or.jp','Male','161.108.182.13','2016-08-29 19:35:20'),
(18,'Anna','Riley','arileyh@nasa.gov','Female','253.31.108.22','2015-12-11 04:34:27'),
(19,'Sarah','Knight','sknighti@foxnews.com','Female','222.220.3.177','2016-09-26 00:49:06'),
(20,'Phyllis','Fox',null,'Female','163.191.232.95','2016-08-21 10:35:19')""",
]
_DELETE_1 = ["delete from src where id = 1"]
_NEW_RECORD_STEPS = [
    [
        "update src set updated_at = updated_at + interval '1 hour', email = case when id = 20"
        " then 'pfoxj@creativecommons.org' else 'new_' || email end where id >= 10 and id <= 20"
    ],
    _DELETE_1,
    [],  # the same source again: nothing added
    [
        "insert into src values (1,'Judith','Kennedy','(not provided)','Female','54.60.24.128',"
        "'2200-01-01 12:00:00')"
    ],
    _DELETE_1,
    [],
]
NEW_RECORD = [
    Scenario(
        name="new_record_timestamp",
        origin="simple_snapshot/new_record_timestamp_mode.py",
        create=_NEW_RECORD_CREATE,
        key=["id", "first_name"],
        strategy="timestamp",
        updated_at="updated_at",
        hard_deletes="new_record",
        steps=_NEW_RECORD_STEPS,
        expected_rows=34,  # 20, 11 updated, id 1 deleted, revived, deleted again
    ),
    Scenario(
        name="new_record_check",
        origin="simple_snapshot/new_record_check_mode.py",
        create=_NEW_RECORD_CREATE,
        key=["id", "first_name"],
        strategy="check",
        check_cols="all",
        hard_deletes="new_record",
        steps=_NEW_RECORD_STEPS,
        expected_rows=34,  # 20, 11 updated, id 1 deleted, revived, deleted again
    ),
    Scenario(
        name="new_record_delete_twice",
        origin="simple_snapshot/new_record_dbt_valid_to_current.py",
        create=[
            "create table src (id integer, first_name varchar(50))",
            "insert into src values (1, 'Judith'), (2, 'Arthur')",
        ],
        strategy="check",
        check_cols="all",
        hard_deletes="new_record",
        steps=[_DELETE_1, []],
        expected_rows=3,  # id 1 closed, its deleted row (once), id 2
    ),
]

SCENARIOS: list[Scenario] = [*BASIC, *SIMPLE, *NEW_RECORD]
BY_NAME = {s.name: s for s in SCENARIOS}

"""The fictional borough of Riverside: names shared by the demo's files and the simulators.

The demo's ward register and the planning simulator's wards must be the same
twenty wards (codes ``RV01``…``RV20`` in this order), so they live here once.
"""

from __future__ import annotations

WARD_NAMES = (
    "Abbey Fields", "Alder Park", "Bridge End", "Castle Marsh", "Chapel Green",
    "Dockside", "Elmstead", "Ferry Lane", "Gasworks", "Heron Quay",
    "Kingsmead", "Lockside", "Marsh Gate", "Millfield", "Northbank",
    "Old Town", "Orchard Hill", "St Ann's", "Tanners Cross", "Willow Vale",
)  # fmt: skip
FIRST_NAMES = (
    "Zoë", "José", "Siobhán", "Chloé", "Aoife", "Oluwaseun", "Mohammed", "Priya",
    "Agnieszka", "Łukasz", "Renée", "Inés", "François", "Björn", "Nuño", "Dóra",
    "Amelia", "Oliver", "Fatima", "Kwame", "Aisha", "Daniel", "Grace", "Hassan",
    "Jack", "Leila", "Mei", "Nathan", "Olivia", "Ravi", "Sarah", "Tomasz",
    "Yusuf", "Emily", "George", "Ama", "Chidi", "Hannah", "Ibrahim", "Lucy",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Okafor", "Patel", "Nowak", "O'Brien", "Müller", "García",
    "Ó Briain", "Khan", "Begum", "Ahmed", "Nguyen", "Kowalski", "Ferreira", "Jönsson",
    "Williams", "Brown", "Taylor", "Davies", "Evans", "Mensah", "Hussain", "Ali",
    "Wilson", "Thompson", "Rossi", "Silva", "Adeyemi", "Chen", "Murphy", "Kelly",
    "Dubois", "Santos", "Clarke", "Walker", "Şahin", "Yılmaz", "Novák", "Lefèvre",
)  # fmt: skip
STREET_WORDS = (
    "Alder", "Beech", "Canal", "Chapel", "Church", "Dock", "Elm", "Ferry",
    "Foundry", "Granary", "Harbour", "Hazel", "King's", "Lark", "Lock", "Maple",
    "Market", "Mill", "Orchard", "Priory", "Queen's", "Rope", "School", "Station",
    "Tanner's", "Victoria", "Wharf", "Willow", "Wren", "Cooper's",
)  # fmt: skip
STREET_TYPES = ("Road", "Street", "Lane", "Close", "Way", "Gardens", "Terrace", "Walk", "Place")

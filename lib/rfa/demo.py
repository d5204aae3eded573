"""Deterministic, realistic ResolutionFlow demo data: a generator and a loader.

:func:`generate` builds every source table of METRICS.md §1 for three MSP tenants
(:data:`DEMO_ACCOUNTS`) over the ``DAYS`` (150) days before an *anchor* (the end
of the data, exclusive; default today's 00:00 UTC). :func:`load` bulk-inserts the
result into an empty schema (SQLite: executemany in one transaction; PostgreSQL:
``COPY`` through psycopg 3). :func:`run_demo` does both.

Same ``seed`` + ``scale`` + ``anchor`` give identical data, ids included: every
random draw, UUIDs too, comes from numpy generators seeded with
``(seed, account, stream)``; users and flows do not depend on ``scale``.

What is in it
-------------
* **Accounts** — ``northwind-it`` (New York, large), ``harbour-msp`` (London,
  medium), ``kiwi-tech`` (Auckland, small). Each has its own vendor stack,
  clients and PSA, so flow names and rating comments never repeat across tenants.
* **Users** — engineers, 1–3 team admins (who also run sessions), 2–4 viewers
  (who never do) and one super admin; names are unique across all accounts.
* **Flows** (``trees``) — troubleshooting and procedural flows with a nested
  ``tree_structure`` (questions with 2–3 options, actions, solution and
  escalation leaves; 4–9 levels along the main path). Each flow has a
  difficulty and one *hard step* that loses more engineers; popularity is
  Zipf-like.
* **Sessions** — started with weekday/working-hour seasonality in the account's
  local timezone and a mild upward trend; ``decisions`` walk the tree from the
  root (``{"node_id", "choice", "at"}``); ~20 % drop off (no ``completed_at``, no
  outcome), preferably at hard steps; outcomes depend on flow difficulty and
  engineer skill; sessions running at the anchor are still open.
* **Ratings** — CSAT on ~30 % of completed sessions (correlated with outcome,
  comments on ~30 % of them); thumbs on ~12 % of visited steps (steps where
  sessions drop off get more thumbs-down).
* **FlowPilot** — AI sessions (~20 % as many as sessions, growing adoption),
  their steps, hand-offs (some never claimed, some claimed with no later step),
  flow proposals and PSA post logs. Each account has one problem domain that
  no flow covers (``tree_id`` always NULL) and one flow whose AI sessions
  mostly escalate (``uncovered_domain`` / ``weak_ai_flow`` of its spec).

Deliberate data-quality faults (all inside the last 30 days; :data:`DEMO_FAULTS`)
-------------------------------------------------------------------------------
* ``sessions.completed_at < started_at`` — two sessions of ``northwind-it`` and
  one of ``harbour-msp`` (a device clock set wrong).
* ``session_ratings.rating`` out of 1–5 — one ``0`` and one ``6`` in
  ``northwind-it`` (an old client bypassing validation).
* A decision whose ``node_id`` is not in its flow — one session of
  ``harbour-msp`` (the node was deleted when the flow was edited later).
* A completed session with NULL ``outcome`` — one session of ``kiwi-tech``.
* Clock drift on hand-offs — in every account a few claimed hand-offs whose
  engineer's first step is dated 1–9 s *before* ``claimed_at``.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from rfa.db import TABLES, accounts, create_engine, mask_url
from rfa.errors import DatabaseUnavailable, ParameterError, RFAError

__all__ = [
    "DAYS",
    "DEMO_ACCOUNTS",
    "DEMO_FAULTS",
    "DemoAccount",
    "DemoFlow",
    "default_anchor",
    "generate",
    "load",
    "run_demo",
]

DAYS = 150
"""Days of history before the anchor (independent of ``scale``)."""

UTC = dt.UTC
Rows = list[dict[str, object]]


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class DemoFlow:
    """One flow of a demo account: its name, problem domain and tree type."""

    name: str
    domain: str
    tree_type: str = "troubleshooting"


@dataclass(frozen=True)
class DemoAccount:
    """Specification of one demo tenant.

    ``size`` is ``large``/``medium``/``small``; ``sessions`` is the session count
    at ``scale=1.0``; ``engineers``/``team_admins``/``viewers`` are head counts
    (plus one super admin). ``ai_domains`` are the FlowPilot problem domains
    seen in the account, ``uncovered_domain`` the one no flow covers, and
    ``weak_ai_flow`` the flow whose AI sessions mostly escalate.
    """

    slug: str
    name: str
    timezone: str
    size: str
    email_domain: str
    engineers: int
    team_admins: int
    viewers: int
    sessions: int
    psa: str
    clients: tuple[str, ...]
    flows: tuple[DemoFlow, ...]
    ai_domains: tuple[str, ...]
    uncovered_domain: str
    weak_ai_flow: str
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]


def _f(name: str, domain: str) -> DemoFlow:
    return DemoFlow(name, domain, "troubleshooting")


def _p(name: str, domain: str) -> DemoFlow:
    return DemoFlow(name, domain, "procedural")


NORTHWIND = DemoAccount(
    slug="northwind-it",
    name="Northwind IT Services",
    timezone="America/New_York",
    size="large",
    email_domain="northwind-it.com",
    engineers=58,
    team_admins=3,
    viewers=4,
    sessions=56_500,
    psa="connectwise",
    clients=(
        "Hudson Valley Dental",
        "Brightwater Law Group",
        "Catskill Family Medicine",
        "Empire Freight Logistics",
        "Bronx Community Credit Union",
        "Maplewood Realty",
        "Garden State Architects",
        "Liberty Title & Escrow",
        "Sound Shore Pediatrics",
        "Tappan Zee Accounting",
        "Saratoga Insurance Brokers",
        "Queens Physical Therapy",
    ),
    flows=(
        _f("Meraki MX site-to-site VPN tunnel down", "network"),
        _f("Meraki Client VPN fails to connect (L2TP)", "network"),
        _f("Meraki MR Wi-Fi drops in conference rooms", "network"),
        _f("Meraki MS switch port stuck in err-disabled", "network"),
        _f("DHCP scope exhausted on Meraki MX", "network"),
        _f("DNS resolution fails for internal hostnames", "network"),
        _f("Slow internet at branch office (Spectrum circuit)", "network"),
        _f("Static IP printer unreachable across VLANs", "network"),
        _f("Verizon Fios failover not kicking in", "network"),
        _f("Outlook profile corruption", "email"),
        _f("Outlook stuck on 'Trying to connect' to Exchange Online", "email"),
        _f("Shared mailbox not appearing in Outlook", "email"),
        _f("Emails to external domain bounce with 550 5.7.1", "email"),
        _f("Mimecast holding legitimate inbound mail", "email"),
        _f("Outlook search returns no results", "email"),
        _f("Printer spooler stuck — HP LaserJet", "printing"),
        _f("HP LaserJet M607 paper jam error persists", "printing"),
        _f("Scan to email fails on Xerox WorkCentre", "printing"),
        _f("Universal Print printer offline for users", "printing"),
        _f("Printer driver push via Intune fails", "printing"),
        _f("Azure AD Connect sync failure", "identity"),
        _f("User locked out after password change", "identity"),
        _f("MFA prompt loop in Microsoft Authenticator", "identity"),
        _p("New hire onboarding — Entra ID account setup", "identity"),
        _p("Leaver offboarding — disable account and mailbox", "identity"),
        _f("Conditional Access blocking sign-in from home", "identity"),
        _f("Dell Latitude won't boot past BIOS logo", "endpoint"),
        _f("Windows 11 update stuck at 0%", "endpoint"),
        _f("BitLocker recovery key prompt on boot", "endpoint"),
        _f("Intune device not checking in", "endpoint"),
        _f("Dell WD19 dock — external monitors not detected", "endpoint"),
        _f("Laptop slow after login (100% disk usage)", "endpoint"),
        _f("Autopilot enrollment fails with 0x80180014", "endpoint"),
        _f("Blue screen MEMORY_MANAGEMENT on Dell OptiPlex", "endpoint"),
        _f("Veeam backup job failed — VSS error", "backup"),
        _p("Veeam restore of a deleted file share folder", "backup"),
        _f("Datto SIRIS screenshot verification failing", "backup"),
        _f("OneDrive Known Folder Move not syncing", "backup"),
        _f("Teams meeting audio cuts out", "m365"),
        _f("Teams won't launch after update", "m365"),
        _p("SharePoint site permissions request", "m365"),
        _f("Microsoft 365 license assignment error", "m365"),
        _f("OneDrive sync conflict duplicates files", "m365"),
        _f("SentinelOne quarantined a line-of-business app", "security"),
        _p("Reported phishing email — triage", "security"),
        _f("Suspicious sign-in alert in Entra ID", "security"),
        _f("QuickBooks Desktop multi-user mode fails", "line_of_business"),
        _f("Dentrix workstation cannot reach database server", "line_of_business"),
    ),
    ai_domains=(
        "network",
        "email",
        "printing",
        "identity",
        "endpoint",
        "backup",
        "m365",
        "security",
        "line_of_business",
        "voip",
    ),
    uncovered_domain="voip",
    weak_ai_flow="Azure AD Connect sync failure",
    first_names=(
        "James",
        "Maria",
        "Robert",
        "Jennifer",
        "Michael",
        "Linda",
        "David",
        "Patricia",
        "Carlos",
        "Aisha",
        "Kevin",
        "Priya",
        "Brian",
        "Jessica",
        "Daniel",
        "Ashley",
        "Marcus",
        "Tiffany",
        "Anthony",
        "Nicole",
        "Jose",
        "Samantha",
        "Tyler",
        "Latoya",
        "Eric",
        "Megan",
        "Jason",
        "Rachel",
        "Andre",
        "Lauren",
        "Hector",
        "Danielle",
        "Steven",
        "Kimberly",
        "Raj",
        "Courtney",
        "Derek",
        "Vanessa",
        "Luis",
        "Brianna",
        "Ryan",
        "Monique",
        "Justin",
        "Heather",
        "Omar",
        "Tanya",
        "Sean",
        "Crystal",
    ),
    last_names=(
        "Johnson",
        "Rodriguez",
        "Williams",
        "Nguyen",
        "Brown",
        "Martinez",
        "Davis",
        "Miller",
        "Garcia",
        "Wilson",
        "Anderson",
        "Kim",
        "Jackson",
        "Rivera",
        "Harris",
        "Clark",
        "Lewis",
        "Robinson",
        "Young",
        "Allen",
        "Hernandez",
        "King",
        "Lopez",
        "Hill",
        "Scott",
        "Green",
        "Adams",
        "Baker",
        "Gonzalez",
        "Nelson",
        "Carter",
        "Mitchell",
        "Perez",
        "Roberts",
        "Phillips",
        "Parker",
        "Collins",
        "Sanchez",
        "Morris",
        "Reyes",
        "Washington",
        "Chen",
        "Murphy",
        "Bailey",
        "Cooper",
        "Diaz",
    ),
)

HARBOUR = DemoAccount(
    slug="harbour-msp",
    name="Harbour Managed Services",
    timezone="Europe/London",
    size="medium",
    email_domain="harbourmsp.co.uk",
    engineers=20,
    team_admins=2,
    viewers=3,
    sessions=15_000,
    psa="autotask",
    clients=(
        "Thames Valley Surveyors",
        "Brixton Community Pharmacy",
        "Canary Wharf Recruitment",
        "Southwark Dental Practice",
        "Greenwich Yacht Brokers",
        "Camden Architects LLP",
        "Kentish Town Vets",
        "Richmond Estate Agents",
        "Hackney Housing Co-op",
    ),
    flows=(
        _f("FortiGate SSL-VPN login fails in FortiClient", "network"),
        _f("FortiGate IPsec tunnel to client site flapping", "network"),
        _f("UniFi access point showing 'Disconnected'", "network"),
        _f("BT Business broadband outage at client site", "network"),
        _f("UniFi guest Wi-Fi portal not loading", "network"),
        _f("Outlook for Mac keeps asking for password", "email"),
        _f("Mail stuck in Outbox in Outlook 365", "email"),
        _f("Calendar delegate cannot accept meeting invites", "email"),
        _f("Inbound mail delayed by Sophos Email", "email"),
        _f("Ricoh MFP scan to SMB folder fails", "printing"),
        _f("Ricoh printer prints garbled characters", "printing"),
        _f("PaperCut follow-me badge not recognised", "printing"),
        _f("Self-service password reset not working", "identity"),
        _f("Hybrid-joined device stuck 'Pending' in Entra", "identity"),
        _p("New starter setup — Microsoft 365 and ThinkPad", "identity"),
        _f("ThinkPad USB-C dock gives no display", "endpoint"),
        _f("Lenovo Vantage firmware update loop", "endpoint"),
        _f("macOS FileVault unlock fails after update", "endpoint"),
        _f("Windows profile loads as a temporary profile", "endpoint"),
        _f("Acronis Cyber Protect backup missed schedule", "backup"),
        _p("Restore a previous version from Acronis cloud", "backup"),
        _f("Teams Phone number not ringing (Direct Routing)", "voip"),
        _f("Yealink desk phone won't register", "voip"),
        _f("SharePoint library not syncing to File Explorer", "m365"),
        _f("Sage 50 Accounts data service won't start", "line_of_business"),
    ),
    ai_domains=(
        "network",
        "email",
        "printing",
        "identity",
        "endpoint",
        "backup",
        "voip",
        "m365",
        "line_of_business",
        "security",
    ),
    uncovered_domain="security",
    weak_ai_flow="FortiGate IPsec tunnel to client site flapping",
    first_names=(
        "Oliver",
        "Amelia",
        "Harry",
        "Isla",
        "George",
        "Poppy",
        "Jack",
        "Freya",
        "Charlie",
        "Imogen",
        "Thomas",
        "Ellie",
        "Alfie",
        "Sophie",
        "Callum",
        "Niamh",
        "Rhys",
        "Hannah",
        "Kieran",
        "Chloe",
        "Ravi",
        "Aaliyah",
        "Declan",
        "Zara",
        "Owen",
        "Bethan",
        "Finley",
        "Georgia",
        "Arjun",
        "Lucy",
    ),
    last_names=(
        "Hughes",
        "Wright",
        "Walsh",
        "Wood",
        "Thompson",
        "Khan",
        "Davies",
        "Edwards",
        "Clarke",
        "Turner",
        "Hall",
        "Ahmed",
        "Lloyd",
        "Morgan",
        "Bennett",
        "Shaw",
        "Fletcher",
        "Marsh",
        "Holloway",
        "Pritchard",
        "O'Connor",
        "Singh",
        "Ward",
        "Begum",
        "Barker",
        "Fox",
        "Knowles",
        "Whitaker",
    ),
)

KIWI = DemoAccount(
    slug="kiwi-tech",
    name="Kiwi Tech Support",
    timezone="Pacific/Auckland",
    size="small",
    email_domain="kiwitech.co.nz",
    engineers=7,
    team_admins=1,
    viewers=2,
    sessions=3_000,
    psa="halo",
    clients=(
        "Waikato Orchards",
        "Tauranga Physio",
        "Ponsonby Cafe Group",
        "Rotorua Motor Lodge",
        "Kapiti Coast Vets",
        "Hamilton East Law",
        "Taupo Marine Services",
    ),
    flows=(
        _f("SonicWall Global VPN client won't connect", "network"),
        _f("One NZ fibre ONT showing red LOS light", "network"),
        _f("EFTPOS terminal offline at cafe counter", "network"),
        _f("Google Workspace mail not syncing on iPhone", "email"),
        _f("Gmail sending limit exceeded for user", "email"),
        _f("Brother HL-L6400 printing blank pages", "printing"),
        _f("Brother MFC scan to network folder fails", "printing"),
        _f("HP ProBook battery not charging", "endpoint"),
        _p("Windows 11 reset for a new staff member", "endpoint"),
        _f("Xero bank feed stopped updating", "line_of_business"),
        _f("MYOB AccountRight file locked by another user", "line_of_business"),
        _f("Google Workspace 2-step verification lockout", "identity"),
    ),
    ai_domains=(
        "network",
        "email",
        "printing",
        "endpoint",
        "line_of_business",
        "identity",
        "backup",
    ),
    uncovered_domain="backup",
    weak_ai_flow="MYOB AccountRight file locked by another user",
    first_names=(
        "Aroha",
        "Tama",
        "Wiremu",
        "Ngaio",
        "Mere",
        "Hemi",
        "Kiri",
        "Liam",
        "Ruby",
        "Mason",
        "Olivia",
        "Nikau",
        "Manaia",
        "Charlotte",
        "Lachlan",
        "Grace",
        "Ana",
        "Sione",
        "Mele",
        "Hunter",
    ),
    last_names=(
        "Ngata",
        "Parata",
        "Tipene",
        "Walker",
        "Taufa",
        "Campbell",
        "Stewart",
        "Henare",
        "Reihana",
        "Kereama",
        "McLeod",
        "Fraser",
        "Robertson",
        "Ruatapu",
        "Simpson",
        "Tane",
    ),
)

DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (NORTHWIND, HARBOUR, KIWI)
"""The three demo tenants, largest first (slugs are used by notebooks and tests)."""

DEMO_FAULTS: tuple[str, ...] = (
    "northwind-it: 2 sessions with completed_at < started_at (last 30 days)",
    "harbour-msp: 1 session with completed_at < started_at (last 30 days)",
    "northwind-it: session_ratings.rating = 0 and = 6 (one each, last 30 days)",
    "harbour-msp: 1 session whose decisions hold a node_id missing from its flow",
    "kiwi-tech: 1 completed session with NULL outcome (last 30 days)",
    "every account: a few hand-offs whose first engineer step predates claimed_at by 1-9 s",
)
"""The deliberate data-quality faults of the demo data (see the module docstring)."""


def _check_specs() -> None:
    """Flow names and client names must never repeat across accounts."""
    seen: dict[str, str] = {}
    for spec in DEMO_ACCOUNTS:
        names = [f.name for f in spec.flows] + list(spec.clients)
        for name in names:
            if seen.setdefault(name, spec.slug) != spec.slug:
                raise AssertionError(f"demo name {name!r} repeats across accounts")
        if spec.weak_ai_flow not in {f.name for f in spec.flows}:
            raise AssertionError(f"{spec.slug}: weak_ai_flow is not one of its flows")
        if any(f.domain == spec.uncovered_domain for f in spec.flows):
            raise AssertionError(f"{spec.slug}: uncovered_domain has a flow")


_check_specs()


# ------------------------------------------------------------------ step library


@dataclass(frozen=True)
class _Steps:
    """Node texts of one problem domain."""

    questions: tuple[tuple[str, tuple[str, ...]], ...]
    actions: tuple[str, ...]
    fixes: tuple[str, ...]
    escalations: tuple[str, ...]


_STEPS: dict[str, _Steps] = {
    "network": _Steps(
        questions=(
            ("Can the affected device ping its default gateway?", ("No", "Yes")),
            ("Is the link LED on the switch port lit?", ("Yes", "No — port is dark")),
            ("Does nslookup resolve the internal hostname?", ("No", "Yes")),
            (
                "Is the tunnel showing 'Up' on the firewall dashboard?",
                ("No", "Yes, but no traffic passes", "It flaps every few minutes"),
            ),
            ("Did the public IP or ISP circuit change recently?", ("No", "Yes")),
            ("Are other users at the same site affected?", ("Yes", "No, just this user")),
            ("Is the device getting a valid DHCP lease (not 169.254.x.x)?", ("Yes", "No")),
            ("Does the firewall event log show drops for this traffic?", ("Yes", "No")),
        ),
        actions=(
            "Power-cycle the modem/ONT and wait five minutes",
            "Check WAN and uplink status on the firewall dashboard",
            "Run a traceroute to 8.8.8.8 and note the last responding hop",
            "Flush DNS (ipconfig /flushdns) and renew the DHCP lease",
            "Compare phase 1 / phase 2 proposals on both tunnel peers",
            "Capture packets on the WAN interface for 60 seconds",
        ),
        fixes=(
            "Re-keyed the tunnel with matching proposals — traffic passing",
            "Replaced the faulty patch lead; link restored",
            "Expanded the DHCP scope and cleared stale leases",
            "Corrected the DNS forwarder on the domain controller",
            "Updated the firewall policy to allow the traffic",
        ),
        escalations=(
            "Log a fault with the ISP and attach the traceroute",
            "Escalate to the network team with the packet capture",
        ),
    ),
    "email": _Steps(
        questions=(
            ("Does Outlook on the web work for the user?", ("Yes", "No")),
            ("Is the problem on every device for this mailbox?", ("No, only this PC", "Yes")),
            ("Does the message trace show the mail was delivered?", ("No", "Yes")),
            ("Is the mailbox over its storage quota?", ("No", "Yes")),
            ("Does a new Outlook profile connect successfully?", ("Yes", "No")),
            ("Is the sending domain passing SPF and DKIM?", ("No", "Yes")),
            ("Is the user's licence still assigned?", ("Yes", "No")),
        ),
        actions=(
            "Start Outlook in safe mode (outlook.exe /safe)",
            "Run the Microsoft Support and Recovery Assistant",
            "Run a message trace in the Exchange admin centre",
            "Check mailbox permissions and automapping",
            "Clear cached credentials in Credential Manager / Keychain",
            "Rebuild the OST file",
        ),
        fixes=(
            "Created a new Outlook profile; mailbox syncing",
            "Re-added the shared mailbox with Full Access; visible after restart",
            "Released the message from quarantine and allow-listed the sender",
            "Archived old items; mailbox back under quota",
            "Fixed the SPF record; external mail delivering",
        ),
        escalations=(
            "Open a Microsoft 365 support case with the message trace",
            "Escalate to the messaging specialist",
        ),
    ),
    "printing": _Steps(
        questions=(
            ("Does the printer print a configuration page from its panel?", ("Yes", "No")),
            ("Are jobs stuck in the Windows print queue?", ("Yes", "No")),
            ("Can the PC ping the printer's IP address?", ("Yes", "No")),
            ("Is the issue on every PC or just one?", ("Just one", "Every PC")),
            ("Does the panel show an error code?", ("No", "Yes — jam or hardware code")),
            ("Is the correct driver (PCL6 / universal) installed?", ("Yes", "No")),
        ),
        actions=(
            "Stop the Print Spooler, clear the spool\\PRINTERS folder, start it again",
            "Power-cycle the printer and wait for Ready",
            "Remove and re-add the printer from the print server",
            "Check the scan-to-SMB/SMTP settings in the printer's web page",
            "Print a test page from the print server",
        ),
        fixes=(
            "Cleared the stuck jobs; printing restored",
            "Installed the correct driver; output normal",
            "Updated the scan destination credentials; scans arriving",
            "Reserved the printer's IP in DHCP; reachable again",
        ),
        escalations=(
            "Book a vendor engineer visit for the hardware fault",
            "Escalate to the print server administrator",
        ),
    ),
    "identity": _Steps(
        questions=(
            ("Is the account locked out in Active Directory / Entra ID?", ("Yes", "No")),
            ("Did the user change their password in the last 24 hours?", ("Yes", "No")),
            ("Does the sign-in log show a Conditional Access failure?", ("Yes", "No")),
            ("Is the last directory sync older than two hours?", ("Yes", "No")),
            ("Is MFA registered on a device the user still has?", ("No", "Yes")),
            ("Is the user licensed and in the right security groups?", ("Yes", "No")),
        ),
        actions=(
            "Check the sign-in logs for the failure reason",
            "Unlock the account and reset the password",
            "Restart the ADSync service and run a delta sync",
            "Require MFA re-registration for the user",
            "Confirm the manager's approval on the ticket",
            "Add the user to the standard security groups",
        ),
        fixes=(
            "Unlocked the account; user signed in",
            "Removed the stale credential on the phone; lockouts stopped",
            "Delta sync completed; changes visible in the cloud",
            "Re-registered MFA; sign-in successful",
            "Account provisioned and welcome pack sent",
        ),
        escalations=(
            "Escalate to the identity team with the sign-in log",
            "Open a Microsoft support case for the sync errors",
        ),
    ),
    "endpoint": _Steps(
        questions=(
            ("Does the device power on and reach the login screen?", ("Yes", "No")),
            ("Is the device showing as compliant in Intune?", ("No", "Yes")),
            ("Is disk or CPU above 90% in Task Manager?", ("Yes", "No")),
            ("Are Windows updates pending a restart?", ("Yes", "No")),
            ("Is the BIOS/firmware older than the current release?", ("Yes", "No")),
            ("Does the issue persist in safe mode?", ("No", "Yes")),
            ("Is the device still under warranty?", ("Yes", "No")),
        ),
        actions=(
            "Run the vendor hardware diagnostics",
            "Update BIOS, dock firmware and drivers",
            "Sync the device from Company Portal",
            "Check Event Viewer for critical errors at the time of the fault",
            "Clear the update cache (SoftwareDistribution) and retry",
            "Retrieve the BitLocker recovery key from Entra ID",
        ),
        fixes=(
            "Firmware updated; issue no longer reproduces",
            "Device re-synced and compliant",
            "Replaced the failed drive and re-imaged",
            "Disabled the offending startup items; login time normal",
            "Update installed after clearing the cache",
        ),
        escalations=(
            "Raise a warranty case with the manufacturer",
            "Escalate for a re-image by the deployment team",
        ),
    ),
    "backup": _Steps(
        questions=(
            ("Did the last job fail or finish with warnings?", ("Failed", "Warning")),
            ("Is there enough free space on the backup repository?", ("Yes", "No")),
            ("Does 'vssadmin list writers' show a writer in a failed state?", ("Yes", "No")),
            ("Is the item in the most recent restore point?", ("Yes", "No, need an older point")),
            ("Is the backup agent service running on the server?", ("Yes", "No")),
        ),
        actions=(
            "Review the job log for the first error",
            "Restart the failed VSS writer's service",
            "Run a manual incremental job",
            "Mount the restore point and browse to the folder",
            "Apply retention to free space on the repository",
        ),
        fixes=(
            "Manual job completed successfully",
            "Restored the folder with original permissions",
            "Freed repository space; schedule back on track",
            "Re-registered the VSS writer; next job green",
        ),
        escalations=(
            "Open a case with the backup vendor with the job logs",
            "Escalate to the backup administrator",
        ),
    ),
    "m365": _Steps(
        questions=(
            ("Does the problem happen in the web version too?", ("No", "Yes")),
            ("Is the app up to date?", ("No", "Yes")),
            (
                "Is there an active incident on the Microsoft 365 service health page?",
                ("No", "Yes"),
            ),
            ("Does signing out and back in change anything?", ("No", "Yes, fixed")),
            ("Is the user licensed for this feature?", ("Yes", "No")),
        ),
        actions=(
            "Clear the Teams/OneDrive cache folder",
            "Reset the app from Settings > Apps",
            "Check the audio device selection and drivers",
            "Review the site's sharing and permission settings",
            "Assign the licence in the admin centre and wait 15 minutes",
        ),
        fixes=(
            "Cache cleared; app working normally",
            "Reinstalled the app; issue gone",
            "Permissions granted; user has access",
            "Licence assigned; feature available",
        ),
        escalations=(
            "Track the Microsoft service incident on the ticket",
            "Open a Microsoft 365 support case",
        ),
    ),
    "security": _Steps(
        questions=(
            ("Did the user click the link or enter credentials?", ("Yes", "No")),
            ("Is the detection a known false positive for this application?", ("Yes", "No")),
            ("Are there sign-ins from unfamiliar locations?", ("Yes", "No")),
            ("Has the same email reached other mailboxes?", ("Yes", "No")),
        ),
        actions=(
            "Isolate the device in the EDR console",
            "Reset the password and revoke all sessions",
            "Purge the message from all mailboxes",
            "Add an exclusion for the signed application hash",
        ),
        fixes=(
            "Exclusion added; application running, device clean",
            "Message purged, sender blocked, user briefed",
            "Sessions revoked and MFA reset; no further suspicious activity",
        ),
        escalations=(
            "Escalate to the security lead as a potential incident",
            "Engage the incident response retainer",
        ),
    ),
    "voip": _Steps(
        questions=(
            ("Does the phone show 'Registered' on its screen?", ("No", "Yes")),
            ("Is the problem one-way audio?", ("Yes", "No")),
            ("Can the phone reach the provisioning server?", ("No", "Yes")),
            ("Is SIP ALG disabled on the firewall?", ("No", "Yes")),
        ),
        actions=(
            "Reboot the handset and check the PoE port",
            "Re-provision the phone from the admin portal",
            "Check call routing for the number",
        ),
        fixes=(
            "Disabled SIP ALG; calls working both ways",
            "Phone re-provisioned and registered",
            "Corrected the call forwarding rule",
        ),
        escalations=("Raise a ticket with the carrier",),
    ),
    "line_of_business": _Steps(
        questions=(
            ("Can the workstation reach the server hosting the data file?", ("Yes", "No")),
            ("Is the database/data service running on the server?", ("No", "Yes")),
            ("Is another user holding a lock on the file?", ("Yes", "No")),
            ("Did the application update recently?", ("Yes", "No")),
            ("Does the vendor's status page show an outage?", ("No", "Yes")),
        ),
        actions=(
            "Restart the application's database service",
            "Check the mapped drive and UNC path",
            "Close the stale session holding the lock",
            "Run the application's connection/repair tool",
        ),
        fixes=(
            "Service restarted; users back in the application",
            "Lock cleared; file opens in multi-user mode",
            "Repaired the install; application connecting",
            "Re-authorised the connection; data flowing again",
        ),
        escalations=("Log a case with the software vendor's support",),
    ),
}

_DOMAIN_DIFFICULTY = {
    "network": 0.08,
    "email": -0.02,
    "printing": -0.05,
    "identity": 0.05,
    "endpoint": 0.0,
    "backup": 0.06,
    "m365": -0.06,
    "security": 0.1,
    "voip": 0.05,
    "line_of_business": 0.04,
}

_POSITIVE = (
    "Worked first time at {client}. The '{step}' step nailed it.",
    "Clear and quick — had {client} back up in no time. Good flow for {flow}.",
    "Saved me a call to the vendor; the user at {client} was happy. {flow} flow is solid.",
    "Great flow. A screenshot for '{step}' would help, but it got {client} sorted.",
    "Followed it line by line for {client}; fixed before the user finished their coffee.",
    "Exactly what I needed for {flow} at {client}.",
    "New to {client}'s setup and this still got me there. Thanks to whoever wrote {flow}.",
    "'{step}' was the key — would never have checked that. {client} is happy.",
)
_NEUTRAL = (
    "Got {client} going with a workaround; the root cause behind {flow} is still open.",
    "The '{step}' step didn't quite match what we saw at {client}; improvised from there.",
    "Flow is OK but long. {client} needed a temporary fix until the part arrives.",
    "Mostly fine for {flow}. {client} has a non-standard config so had to adapt '{step}'.",
    "Worked in the end at {client}, but '{step}' could use clearer wording.",
)
_NEGATIVE = (
    "Didn't cover the {flow} case at {client} at all — had to escalate.",
    "Stuck at '{step}'. None of the options fit what {client} has.",
    "Steps for {flow} are out of date; the screens have changed. Escalated for {client}.",
    "Went round in circles on '{step}' at {client}. Please review this flow.",
    "{flow}: the flow assumes admin access we don't have at {client}.",
    "Wasted 40 minutes on {flow} for {client}; the fix was elsewhere.",
)

_HOUR_WEIGHTS = np.array(
    [
        0.3,
        0.2,
        0.15,
        0.1,
        0.1,
        0.2,
        0.6,
        2.0,
        6.0,
        9.0,
        10.0,
        9.5,
        7.0,
        8.5,
        9.5,
        9.0,
        8.0,
        6.0,
        3.0,
        1.6,
        1.0,
        0.8,
        0.6,
        0.4,
    ]
)
_HOUR_P = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()
_OUTCOMES = ("resolved", "workaround", "escalated", "unresolved")
_RATING_P = {
    "resolved": (0.02, 0.03, 0.10, 0.35, 0.50),
    "workaround": (0.04, 0.10, 0.30, 0.38, 0.18),
    "escalated": (0.20, 0.30, 0.30, 0.15, 0.05),
    "unresolved": (0.35, 0.30, 0.22, 0.10, 0.03),
}
_DAY_S = 86_400

# Stream numbers of the per-account random generators.
_S_USERS, _S_FLOWS, _S_SESSIONS, _S_RATINGS, _S_FAULTS, _S_AI, _S_IDS = range(1, 8)
_S_NAMES = 0


# ------------------------------------------------------------------------ helpers


def _rng(seed: int, account: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, account, stream])


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.bytes(16 * n)
    return [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(n)]


def _ts(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), UTC)


def _ts_list(values: np.ndarray, present: np.ndarray | None = None) -> list[dt.datetime | None]:
    out: list[dt.datetime | None] = [_ts(v) for v in values.tolist()]
    if present is not None:
        for i in np.flatnonzero(~present).tolist():
            out[i] = None
    return out


def _iso(values: np.ndarray) -> list[str]:
    text = np.datetime_as_string(values.astype("datetime64[s]"), unit="s")
    return [s + "Z" for s in text.tolist()]


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw from an (n, k) probability matrix."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(probs))[:, None]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _lognormal(rng: np.random.Generator, median: np.ndarray | float, sigma: float, n: int):
    return np.asarray(median) * np.exp(sigma * rng.standard_normal(n))


def _segment_times(
    rng: np.random.Generator, counts: np.ndarray, start: np.ndarray, span: np.ndarray
) -> np.ndarray:
    """Times of ``counts[i]`` events spread over ``[start[i], start[i] + span[i])``.

    The events of one segment are increasing; gaps are exponential (``counts + 1``
    gaps per segment, the last one is the time after the last event). Returns a
    flat int64 array, segment after segment.
    """
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    gaps = rng.exponential(1.0, size=total + len(counts))
    seg_off = np.concatenate([[0], np.cumsum(counts + 1)[:-1]])
    cs = np.cumsum(gaps)
    base = cs[seg_off] - gaps[seg_off]
    seg_total = cs[seg_off + counts] - base
    seg_of_event = np.repeat(np.arange(len(counts)), counts)
    ev_off = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.arange(total) - np.repeat(ev_off, counts)
    flat = seg_off[seg_of_event] + within
    frac = (cs[flat] - base[seg_of_event]) / seg_total[seg_of_event]
    return start[seg_of_event] + np.floor(span[seg_of_event] * frac).astype(np.int64)


def _sample_times(
    rng: np.random.Generator, n: int, tzname: str, start_s: int, end_s: int, trend: float
) -> np.ndarray:
    """``n`` sorted epoch seconds in ``[start_s, end_s)`` with local-time seasonality.

    Days are weighted Mon–Fri 1.0, Sat/Sun 0.1, times a linear trend rising by
    ``trend`` over the period; hours of the local day follow a working-hours
    profile (~88 % between 08:00 and 18:00).
    """
    tz = ZoneInfo(tzname)
    first = dt.datetime.fromtimestamp(start_s, tz).date()
    last = dt.datetime.fromtimestamp(end_s - 1, tz).date()
    dates = [first + dt.timedelta(days=d) for d in range((last - first).days + 1)]
    offsets = np.array(
        [
            [
                dt.datetime(d.year, d.month, d.day, h, tzinfo=tz).utcoffset().total_seconds()
                for h in range(24)
            ]
            for d in dates
        ],
        dtype=np.int64,
    )
    midnight = np.array([(d - dt.date(1970, 1, 1)).days * _DAY_S for d in dates], dtype=np.int64)
    weekday = np.array([d.weekday() for d in dates])
    weights = np.where(weekday < 5, 1.0, 0.1) * (1.0 + trend * np.arange(len(dates)) / len(dates))
    weights /= weights.sum()
    parts: list[np.ndarray] = []
    need = n
    while need > 0:
        m = int(need * 1.3) + 16
        day = rng.choice(len(dates), size=m, p=weights)
        hour = rng.choice(24, size=m, p=_HOUR_P)
        sec = rng.integers(0, 3600, size=m)
        t = midnight[day] + hour * 3600 + sec - offsets[day, hour]
        t = t[(t >= start_s) & (t < end_s)][:need]
        parts.append(t)
        need -= len(t)
    return np.sort(np.concatenate(parts)).astype(np.int64)


def default_anchor(today: dt.date | None = None) -> dt.datetime:
    """Today's (or ``today``'s) 00:00 UTC as an aware datetime: the default anchor."""
    day = today or dt.datetime.now(UTC).date()
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


def _anchor_seconds(anchor: dt.datetime | dt.date | None) -> int:
    if anchor is None:
        anchor = default_anchor()
    elif isinstance(anchor, dt.date) and not isinstance(anchor, dt.datetime):
        anchor = default_anchor(anchor)
    elif not isinstance(anchor, dt.datetime):
        raise ParameterError("anchor", anchor, "an aware UTC datetime or a date")
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=UTC)
    return math.floor(anchor.timestamp())


# --------------------------------------------------------------------- tree model


@dataclass
class _Tree:
    """A flow's nodes flattened: index 0 is the root."""

    ids: list[str]
    kinds: list[int]  # 0 question, 1 action, 2 solution leaf, 3 escalation leaf
    titles: list[str]
    options: list[str | None]  # label of the answer leading to the node
    children: list[list[int]]  # main continuation first
    weights: list[float]  # relative chance that a drop-off happens at this node
    hard: int  # index of the hard step

    def to_json(self) -> dict[str, object]:
        kind_names = ("question", "action", "solution", "escalation")

        def node(i: int) -> dict[str, object]:
            out: dict[str, object] = {"id": self.ids[i], "type": kind_names[self.kinds[i]]}
            out["question" if self.kinds[i] == 0 else "title"] = self.titles[i]
            if self.options[i] is not None:
                out["option"] = self.options[i]
            out["children"] = [node(c) for c in self.children[i]]
            return out

        return node(0)


def _build_tree(
    rng: np.random.Generator,
    id_rng: np.random.Generator,
    domain: str,
    procedural: bool,
    difficulty: float,
) -> _Tree:
    lib = _STEPS[domain]
    depth = int(np.clip(round(4 + 5 * difficulty + rng.normal(0, 1.0)), 4, 9))
    p_action = 0.55 if procedural else 0.3
    tree = _Tree([], [], [], [], [], [], 0)
    queues: dict[str, list[int]] = {"q": [], "a": []}

    def draw(key: str, size: int) -> int:
        if not queues[key]:
            queues[key] = rng.permutation(size).tolist()
        return queues[key].pop()

    def add(kind: int, title: str, option: str | None, parent: int | None, weight: float) -> int:
        tree.kinds.append(kind)
        tree.titles.append(title)
        tree.options.append(option)
        tree.children.append([])
        tree.weights.append(weight)
        idx = len(tree.kinds) - 1
        if parent is not None:
            tree.children[parent].append(idx)
        return idx

    def leaf(option: str | None, parent: int, escalate: bool) -> None:
        pool = lib.escalations if escalate else lib.fixes
        add(3 if escalate else 2, pool[int(rng.integers(len(pool)))], option, parent, 0.5)

    parent: int | None = None
    label: str | None = None
    main_questions: list[int] = []
    for level in range(1, depth + 1):
        if level == depth:
            assert parent is not None
            leaf(label, parent, escalate=False)
            break
        if level == 1 or rng.random() >= p_action:
            text, opts = lib.questions[draw("q", len(lib.questions))]
            idx = add(0, text, label, parent, 1.0)
            main_questions.append(idx)
            n_opt = min(len(opts), int(rng.integers(2, 4)))
            for side in opts[1:n_opt]:
                if level + 1 < depth and rng.random() < 0.35:
                    act = add(1, lib.actions[draw("a", len(lib.actions))], side, idx, 0.8)
                    leaf(None, act, escalate=rng.random() < 0.2)
                else:
                    leaf(side, idx, escalate=rng.random() < 0.15)
            # main continuation first: move the side children after it when added
            label = opts[0]
        else:
            idx = add(1, lib.actions[draw("a", len(lib.actions))], label, parent, 0.8)
            label = None
        parent = idx
    # put the main child first in each question's children
    for q in main_questions:
        kids = tree.children[q]
        tree.children[q] = kids[-1:] + kids[:-1]
    candidates = main_questions[1:] or main_questions
    tree.hard = candidates[int(rng.integers(len(candidates)))]
    tree.weights[tree.hard] = 6.0 + 6.0 * difficulty
    tree.ids = _uuids(id_rng, len(tree.kinds))
    return tree


# ------------------------------------------------------------------- per account


@dataclass
class _Account:
    index: int
    spec: DemoAccount
    id: str
    user_ids: list[str]
    runners: np.ndarray  # indices into user_ids of engineers + admins
    runner_weights: np.ndarray
    skill: np.ndarray  # per user (0 for non-runners)
    flow_ids: list[str]
    flow_names: list[str]
    flow_domains: list[str]
    difficulty: np.ndarray
    popularity: np.ndarray
    trees: list[_Tree]


def _make_users(
    seed: int, a: int, spec: DemoAccount, account_id: str, used_names: set[str]
) -> tuple[Rows, np.ndarray, np.ndarray, np.ndarray]:
    rng = _rng(seed, a, _S_USERS)
    roles = (
        ["team_admin"] * spec.team_admins
        + ["engineer"] * spec.engineers
        + ["viewer"] * spec.viewers
        + ["super_admin"]
    )
    ids = _uuids(_rng(seed, a, _S_IDS), len(roles))
    rows: Rows = []
    emails: set[str] = set()
    for uid, role in zip(ids, roles, strict=True):
        while True:
            first = spec.first_names[int(rng.integers(len(spec.first_names)))]
            last = spec.last_names[int(rng.integers(len(spec.last_names)))]
            name = f"{first} {last}"
            local = "".join(c for c in f"{first}.{last}".lower() if c.isalnum() or c in ".-")
            if name not in used_names and local not in emails:
                break
        used_names.add(name)
        emails.add(local)
        rows.append(
            {
                "id": uid,
                "account_id": account_id,
                "name": name,
                "email": f"{local}@{spec.email_domain}",
                "role": role,
                "is_team_admin": role == "team_admin",
                "is_super_admin": role == "super_admin",
            }
        )
    role_arr = np.array(roles)
    runners = np.flatnonzero((role_arr == "engineer") | (role_arr == "team_admin"))
    volume = rng.lognormal(0.0, 0.55, size=len(runners))
    volume[role_arr[runners] == "team_admin"] *= 0.3
    skill = np.zeros(len(roles))
    skill[runners] = rng.normal(0.0, 1.0, size=len(runners))
    return rows, runners, volume / volume.sum(), skill


def _make_flows(
    seed: int, a: int, spec: DemoAccount, account_id: str, start_s: int
) -> tuple[Rows, list[_Tree], np.ndarray, np.ndarray]:
    rng = _rng(seed, a, _S_FLOWS)
    id_rng = _rng(seed, a, _S_IDS + 10)
    n = len(spec.flows)
    difficulty = np.clip(
        rng.beta(2.2, 3.0, size=n) + np.array([_DOMAIN_DIFFICULTY[f.domain] for f in spec.flows]),
        0.05,
        0.95,
    )
    weak = [f.name for f in spec.flows].index(spec.weak_ai_flow)
    difficulty[weak] = max(difficulty[weak], 0.72)
    rank = rng.permutation(n)
    popularity = 1.0 / (rank + 1.0) ** 0.9
    popularity /= popularity.sum()
    origin = rng.choice(["manual", "ai_generated", "ai_enhanced"], size=n, p=[0.8, 0.1, 0.1])
    order = rng.permutation(n)
    if "ai_generated" not in origin:
        origin[order[0]] = "ai_generated"
    if "ai_enhanced" not in origin:
        origin[order[1]] = "ai_enhanced"
    created = start_s - rng.integers(12 * _DAY_S, 420 * _DAY_S, size=n)
    flow_ids = _uuids(_rng(seed, a, _S_IDS + 20), n)
    trees: list[_Tree] = []
    rows: Rows = []
    for i, flow in enumerate(spec.flows):
        tree = _build_tree(rng, id_rng, flow.domain, flow.tree_type == "procedural", difficulty[i])
        trees.append(tree)
        rows.append(
            {
                "id": flow_ids[i],
                "account_id": account_id,
                "name": flow.name,
                "tree_type": flow.tree_type,
                "origin": str(origin[i]),
                "tree_structure": tree.to_json(),
                "usage_count": 0,
                "created_at": _ts(created[i]),
            }
        )
    return rows, trees, difficulty, popularity


def _n_sessions(spec: DemoAccount, scale: float) -> int:
    return max(150, round(spec.sessions * scale))


def _make_sessions(seed: int, acc: _Account, n: int, start_s: int, end_s: int) -> dict[str, Rows]:
    spec = acc.spec
    rng = _rng(seed, acc.index, _S_SESSIONS)
    id_rng = _rng(seed, acc.index, _S_IDS + 30)
    started = _sample_times(rng, n, spec.timezone, start_s, end_s, trend=0.35)
    flow = rng.choice(len(acc.flow_ids), size=n, p=acc.popularity)
    user = acc.runners[rng.choice(len(acc.runners), size=n, p=acc.runner_weights)]
    d = acc.difficulty[flow]
    s = acc.skill[user]
    p_drop = 1.0 / (1.0 + np.exp(-(-1.75 + 2.6 * (d - 0.42) - 0.45 * s)))
    drop = rng.random(n) < p_drop
    walk_u = rng.random((n, 12)).tolist()

    # Phase 1: walk the trees (Python loop; everything else is vectorised).
    node_base = np.concatenate([[0], np.cumsum([len(t.ids) for t in acc.trees])[:-1]])
    dec_node: list[int] = []
    dec_choice: list[str | None] = []
    counts = np.zeros(n, dtype=np.int64)
    esc_leaf = np.zeros(n, dtype=bool)
    drop_l = drop.tolist()
    flow_l = flow.tolist()
    p_main = 0.72
    for i in range(n):
        tree = acc.trees[flow_l[i]]
        u = walk_u[i]
        path: list[int] = []
        choices: list[str | None] = []
        node, j = 0, 0
        while True:
            path.append(node)
            kind = tree.kinds[node]
            if kind >= 2:
                choices.append(None)
                break
            kids = tree.children[node]
            if kind == 1 or len(kids) == 1:
                choices.append(None)
                node = kids[0]
                continue
            x = u[j]
            j += 1
            c = (
                0
                if x < p_main
                else 1 + min(int((x - p_main) / (1 - p_main) * (len(kids) - 1)), len(kids) - 2)
            )
            node = kids[c]
            choices.append(tree.options[node])
        if drop_l[i]:
            w = [tree.weights[p] for p in path[:-1]]
            x = u[11] * sum(w)
            k = 0
            acc_w = w[0]
            while acc_w < x and k < len(w) - 1:
                k += 1
                acc_w += w[k]
            path = path[: k + 1]
            choices = choices[: k + 1]
            choices[-1] = None
        else:
            esc_leaf[i] = tree.kinds[path[-1]] == 3
        base = int(node_base[flow_l[i]])
        dec_node.extend(base + p for p in path)
        dec_choice.extend(choices)
        counts[i] = len(path)

    # Durations and outcomes.
    scores = np.stack(
        [
            2.4 - 2.2 * d + 0.45 * s,
            0.15 + 0.3 * d,
            -0.8 + 2.0 * d - 0.35 * s,
            -1.3 + 1.5 * d - 0.3 * s,
        ],
        axis=1,
    )
    outcome = _pick(rng, np.exp(scores))
    escalate_override = esc_leaf & (rng.random(n) < 0.6)
    outcome[escalate_override] = 2
    median_s = 60 * 10.5 * np.exp(1.1 * (d - 0.4) - 0.22 * s) * np.sqrt(counts / 4.0)
    median_s = np.where(outcome == 2, median_s * 1.25, median_s)
    duration = np.clip(_lognormal(rng, median_s, 0.6, n), 90, 2.25 * 3600).astype(np.int64)
    completed = ~drop
    ends = started + duration
    completed &= ends < end_s

    # Decision timestamps.
    at = _segment_times(rng, counts, started, duration)
    sess_of_dec = np.repeat(np.arange(n), counts)
    keep = at < end_s
    dec_node_a = np.array(dec_node, dtype=np.int64)[keep]
    dec_choice = [c for c, k in zip(dec_choice, keep.tolist(), strict=True) if k]
    at = at[keep]
    sess_of_dec = sess_of_dec[keep]
    counts = np.bincount(sess_of_dec, minlength=n)
    dec_off = np.concatenate([[0], np.cumsum(counts)[:-1]])

    all_ids = [nid for t in acc.trees for nid in t.ids]
    all_titles = [title for t in acc.trees for title in t.titles]
    hard_global = np.zeros(len(all_ids), dtype=bool)
    hard_global[[int(node_base[f]) + t.hard for f, t in enumerate(acc.trees)]] = True
    node_str = [all_ids[k] for k in dec_node_a.tolist()]

    fault_rng = _rng(seed, acc.index, _S_FAULTS)
    recent = started >= end_s - 30 * _DAY_S
    safe = completed & recent & (ends < end_s - 3600)

    # Fault: a decision whose node is not in the flow (harbour-msp).
    bad_decision = -1
    if spec.slug == HARBOUR.slug:
        cand = np.flatnonzero(safe & (counts >= 3))
        if len(cand):
            i = int(cand[int(fault_rng.integers(len(cand)))])
            bad_decision = int(dec_off[i] + 1)
            node_str[bad_decision] = _uuids(fault_rng, 1)[0]

    # Step ratings (thumbs) on ~12 % of visited steps.
    n_dec = len(at)
    last_in_sess = np.zeros(n_dec, dtype=bool)
    if n_dec:
        last_in_sess[dec_off[counts > 0] + counts[counts > 0] - 1] = True
    next_at = np.empty(n_dec, dtype=np.int64)
    next_at[:-1] = at[1:]
    fallback = np.where(
        completed[sess_of_dec],
        ends[sess_of_dec],
        at + rng.exponential(90.0, size=n_dec).astype(np.int64) + 5,
    )
    next_at = np.where(last_in_sess, fallback, next_at)
    dropped_here = last_in_sess & ~completed[sess_of_dec]
    is_hard = hard_global[dec_node_a]
    p_rate = np.where(dropped_here, 0.3, 0.11) + np.where(is_hard, 0.05, 0.0)
    p_help = np.clip(
        0.93
        - 0.3 * acc.difficulty[flow[sess_of_dec]]
        - np.where(is_hard, 0.3, 0.0)
        - np.where(dropped_here, 0.35, 0.0),
        0.05,
        0.97,
    )
    rated = rng.random(n_dec) < p_rate
    helpful = rng.random(n_dec) < p_help
    sr_created = at + np.floor(rng.random(n_dec) * np.maximum(next_at - at, 1)).astype(np.int64)
    rated &= sr_created < end_s
    if bad_decision >= 0:
        rated[bad_decision] = False
    with_score = rng.random(n_dec) < 0.06
    score = np.where(helpful, rng.integers(4, 6, size=n_dec), rng.integers(1, 3, size=n_dec))
    idx = np.flatnonzero(rated)
    sess_ids = _uuids(id_rng, n)
    step_ids = _uuids(id_rng, len(idx))
    user_ids = acc.user_ids
    step_rows: Rows = [
        {
            "id": step_ids[k],
            "step_id": node_str[j],
            "user_id": user_ids[int(user[sess_of_dec[j]])],
            "session_id": sess_ids[int(sess_of_dec[j])],
            "was_helpful": bool(helpful[j]),
            "rating": int(score[j]) if with_score[j] else None,
            "created_at": _ts(sr_created[j]),
        }
        for k, j in enumerate(idx.tolist())
    ]

    # Session ratings (CSAT) on ~30 % of completed sessions.
    rrng = _rng(seed, acc.index, _S_RATINGS)
    rate_delay = np.clip(_lognormal(rrng, 90.0, 1.0, n), 10, 2 * _DAY_S).astype(np.int64)
    r_created = ends + rate_delay
    has_rating = completed & (rrng.random(n) < 0.3) & (r_created < end_s)
    probs = np.array([_RATING_P[o] for o in _OUTCOMES])[outcome]
    stars = _pick(rrng, probs) + 1
    has_comment = rrng.random(n) < 0.3
    tmpl_u = rrng.random(n)
    client_u = rrng.integers(len(spec.clients), size=n)
    step_u = rrng.random(n)
    ridx = np.flatnonzero(has_rating)
    rating_ids = _uuids(id_rng, len(ridx))
    rating_rows: Rows = []
    for k, i in enumerate(ridx.tolist()):
        comment = None
        if has_comment[i]:
            star = int(stars[i])
            pool = _POSITIVE if star >= 4 else _NEUTRAL if star == 3 else _NEGATIVE
            cnt = int(counts[i])
            inner = cnt - 1 if cnt >= 2 else cnt  # not the solution leaf
            step_j = int(dec_off[i]) + min(int(step_u[i] * inner), max(inner - 1, 0))
            step = all_titles[int(dec_node_a[step_j])] if cnt else "the first step"
            comment = pool[int(tmpl_u[i] * len(pool))].format(
                client=spec.clients[int(client_u[i])],
                flow=acc.flow_names[int(flow[i])],
                step=step.rstrip("?"),
            )[:500]
        rating_rows.append(
            {
                "id": rating_ids[k],
                "session_id": sess_ids[i],
                "user_id": user_ids[int(user[i])],
                "tree_id": acc.flow_ids[int(flow[i])],
                "account_id": acc.id,
                "rating": int(stars[i]),
                "comment": comment,
                "created_at": _ts(r_created[i]),
            }
        )

    # Session-level faults.
    outcome_str: list[str | None] = [
        _OUTCOMES[o] if c else None
        for o, c in zip(outcome.tolist(), completed.tolist(), strict=True)
    ]
    completed_at: list[dt.datetime | None] = _ts_list(ends, completed)
    free = safe & ~has_rating
    if bad_decision >= 0:
        free[sess_of_dec[bad_decision]] = False
    n_backwards = {NORTHWIND.slug: 2, HARBOUR.slug: 1}.get(spec.slug, 0)
    cand = np.flatnonzero(free)
    chosen = fault_rng.choice(cand, size=min(len(cand), n_backwards + 1), replace=False)
    for i in chosen[:n_backwards].tolist():
        completed_at[i] = _ts(started[i] - int(fault_rng.integers(120, 2400)))
    if spec.slug == KIWI.slug and len(chosen):
        outcome_str[int(chosen[-1])] = None
    if spec.slug == NORTHWIND.slug:
        recent_r = np.flatnonzero(r_created[ridx] >= end_s - 30 * _DAY_S)
        pair = fault_rng.choice(recent_r, size=min(2, len(recent_r)), replace=False).tolist()
        for k, value in zip(pair, (0, 6), strict=False):
            rating_rows[k]["rating"] = value

    # Session rows.
    at_str = _iso(at)
    decisions: list[list[dict[str, object]]] = []
    off_l, cnt_l = dec_off.tolist(), counts.tolist()
    for i in range(n):
        o = off_l[i]
        decisions.append(
            [
                {"node_id": node_str[j], "choice": dec_choice[j], "at": at_str[j]}
                for j in range(o, o + cnt_l[i])
            ]
        )
    session_rows: Rows = [
        {
            "id": sess_ids[i],
            "tree_id": acc.flow_ids[f],
            "user_id": user_ids[u],
            "started_at": _ts(t),
            "completed_at": completed_at[i],
            "outcome": outcome_str[i],
            "decisions": decisions[i],
        }
        for i, (f, u, t) in enumerate(zip(flow_l, user.tolist(), started.tolist(), strict=True))
    ]
    usage = np.bincount(flow, minlength=len(acc.flow_ids))
    return {
        "sessions": session_rows,
        "session_ratings": rating_rows,
        "step_ratings": step_rows,
        "_usage": [{"usage_count": int(c)} for c in usage],
    }


# -------------------------------------------------------------------- FlowPilot


def _ticket_ids(spec: DemoAccount, rng: np.random.Generator, created: np.ndarray) -> list[str]:
    n = len(created)
    if spec.psa == "connectwise":
        nums = 481_200 + np.cumsum(rng.integers(1, 30, size=n))
        return [f"CW-{x}" for x in nums.tolist()]
    if spec.psa == "autotask":
        days = np.datetime_as_string(created.astype("datetime64[s]"), unit="D")
        seq = rng.integers(1, 420, size=n)
        return [
            f"T{d.replace('-', '')}.{q:04d}"
            for d, q in zip(days.tolist(), seq.tolist(), strict=True)
        ]
    nums = 20_400 + np.cumsum(rng.integers(1, 6, size=n))
    return [f"HALO-{x}" for x in nums.tolist()]


def _make_flowpilot(
    seed: int, acc: _Account, n_sessions: int, start_s: int, end_s: int
) -> dict[str, Rows]:
    spec = acc.spec
    rng = _rng(seed, acc.index, _S_AI)
    id_rng = _rng(seed, acc.index, _S_IDS + 40)
    n = max(40, round(n_sessions * 0.2))
    created = _sample_times(rng, n, spec.timezone, start_s, end_s, trend=1.5)
    user = acc.runners[rng.choice(len(acc.runners), size=n, p=acc.runner_weights)]

    domains = list(spec.ai_domains)
    flows_by_domain = {
        dom: [i for i, d in enumerate(acc.flow_domains) if d == dom] for dom in domains
    }
    dom_w = np.array([1.0 + len(flows_by_domain[d]) for d in domains])
    dom_w[domains.index(spec.uncovered_domain)] = 0.12 * dom_w.sum()
    dom = rng.choice(len(domains), size=n, p=dom_w / dom_w.sum())
    no_domain = rng.random(n) < 0.06
    weak = acc.flow_names.index(spec.weak_ai_flow)
    tree = np.full(n, -1, dtype=np.int64)
    match_u = rng.random(n)
    pick_u = rng.random(n)
    for k, name in enumerate(domains):
        cands = flows_by_domain[name]
        if not cands:
            continue
        w = np.array([acc.popularity[c] * (4.0 if c == weak else 1.0) for c in cands])
        cum = np.cumsum(w / w.sum())
        rows = np.flatnonzero((dom == k) & ~no_domain & (match_u < 0.74))
        tree[rows] = np.array(cands)[np.minimum(np.searchsorted(cum, pick_u[rows]), len(cands) - 1)]
    matched = tree >= 0
    conf = np.round(rng.beta(7.0, 2.5, size=n), 3)
    tier_u = rng.random(n)
    tier = np.where(
        matched,
        np.where((conf >= 0.7) & (tier_u < 0.9), 0, 1),
        np.where(tier_u < 0.7, 2, 1),
    )  # 0 guided, 1 exploring, 2 discovery
    p_res = np.array([0.74, 0.55, 0.36])[tier]
    p_res = np.where(tree == weak, 0.12, p_res)
    u = rng.random(n)
    status = np.where(u < p_res, 0, np.where(u < p_res + 0.08, 1, 2))  # resolved/abandoned/esc
    recent3 = created >= end_s - 3 * _DAY_S
    requesting = (status == 2) & (rng.random(n) < np.where(recent3, 0.6, 0.04))
    active = (created >= end_s - 36 * 3600) & (rng.random(n) < 0.35)
    mean_steps = np.array([4.0, 6.0, 8.0])[tier] + np.where(status == 2, 2.0, 0.0)
    mean_steps = np.where(status == 1, 2.0, mean_steps)
    step_count = 1 + rng.poisson(mean_steps)
    dur = np.clip(
        _lognormal(rng, np.array([14.0, 22.0, 35.0])[tier] * 60, 0.6, n)
        * np.where(status == 1, 0.5, 1.0),
        60,
        5 * 3600,
    ).astype(np.int64)
    end = created + dur
    active |= (status == 0) & (end >= end_s)
    room = np.maximum((end_s - 1 - created) * 6 // 10, 1)
    end = np.where((status == 0) & ~active, end, created + np.minimum(dur, room))
    status_name = np.array(["resolved", "abandoned", "escalated"], dtype=object)[status]
    status_name[requesting] = "requesting_escalation"
    status_name[active] = "active"
    resolved = status_name == "resolved"
    escalated = (status_name == "escalated") | (status_name == "requesting_escalation")

    rated = np.where(resolved, 0.45, np.where(escalated, 0.3, np.where(active, 0.0, 0.1)))
    has_rating = rng.random(n) < rated
    rating_p = np.where(
        resolved[:, None],
        np.array([0.02, 0.04, 0.12, 0.37, 0.45]),
        np.array([0.25, 0.3, 0.27, 0.13, 0.05]),
    )
    stars = _pick(rng, rating_p) + 1
    has_ticket = rng.random(n) < 0.82
    tickets = _ticket_ids(spec, rng, created)
    ai_ids = _uuids(id_rng, n)
    dom_name = [
        None if nd else domains[k] for k, nd in zip(dom.tolist(), no_domain.tolist(), strict=True)
    ]
    ai_rows: Rows = [
        {
            "id": ai_ids[i],
            "account_id": acc.id,
            "user_id": acc.user_ids[int(user[i])],
            "tree_id": acc.flow_ids[int(tree[i])] if matched[i] else None,
            "status": str(status_name[i]),
            "problem_domain": dom_name[i],
            "confidence_tier": ("guided", "exploring", "discovery")[int(tier[i])],
            "step_count": int(step_count[i]),
            "session_rating": int(stars[i]) if has_rating[i] else None,
            "psa_ticket_id": tickets[i] if has_ticket[i] else None,
            "match_confidence": float(conf[i]) if matched[i] else None,
            "created_at": _ts(created[i]),
            "resolved_at": _ts(end[i]) if resolved[i] else None,
        }
        for i in range(n)
    ]

    # Steps before resolution / hand-off.
    step_t = _segment_times(rng, step_count, created, np.maximum(end - created, 1))
    step_sess = np.repeat(np.arange(n), step_count)

    # Hand-offs of escalated sessions.
    h = np.flatnonzero(escalated)
    h_created = np.minimum(end[h] + rng.integers(5, 60, size=len(h)), end_s - 1)
    delay = np.clip(_lognormal(rng, 420.0, 1.0, len(h)), 15, 6 * 3600).astype(np.int64)
    claimed_at = h_created + delay
    claimed = (status_name[h] == "escalated") & (rng.random(len(h)) < 0.9) & (claimed_at < end_s)
    claimers = acc.runners
    pick = rng.integers(len(claimers), size=len(h))
    claim_user = claimers[pick]
    same = claim_user == user[h]
    claim_user[same] = claimers[(pick[same] + 1) % len(claimers)]
    acts = claimed & (rng.random(len(h)) < 0.88)
    n_post = np.where(acts, 1 + np.minimum(rng.poisson(1.5, size=len(h)), 5), 0)
    first = claimed_at + np.clip(_lognormal(rng, 95.0, 0.9, len(h)), 3, 7200).astype(np.int64)
    drift_cand = np.flatnonzero(acts & (claimed_at >= end_s - 30 * _DAY_S) & (first < end_s))
    n_drift = min(len(drift_cand), max(2, round(0.02 * len(drift_cand))))
    drift = rng.choice(drift_cand, size=n_drift, replace=False) if n_drift else np.zeros(0, int)
    first[drift] = claimed_at[drift] - rng.integers(1, 10, size=n_drift)
    post_sess = np.repeat(h, n_post)
    post_first = np.repeat(first, n_post)
    group_start = np.concatenate([[0], np.cumsum(n_post)[:-1]])[n_post > 0]
    gaps = rng.exponential(120.0, size=int(n_post.sum())).astype(np.int64) + 5
    gaps[group_start] = 0
    cum = np.cumsum(gaps)
    post_t = post_first + cum - np.repeat(cum[group_start], n_post[n_post > 0])
    keep = post_t < end_s
    all_step_sess = np.concatenate([step_sess, post_sess[keep]])
    all_step_t = np.concatenate([step_t, post_t[keep]])
    order = np.lexsort((all_step_t, all_step_sess))
    step_ids = _uuids(id_rng, len(order))
    step_rows: Rows = [
        {
            "id": step_ids[k],
            "ai_session_id": ai_ids[int(all_step_sess[j])],
            "created_at": _ts(all_step_t[j]),
        }
        for k, j in enumerate(order.tolist())
    ]
    handoff_ids = _uuids(id_rng, len(h))
    handoff_rows: Rows = [
        {
            "id": handoff_ids[k],
            "ai_session_id": ai_ids[int(i)],
            "created_at": _ts(h_created[k]),
            "claimed_at": _ts(claimed_at[k]) if claimed[k] else None,
            "claimed_by": acc.user_ids[int(claim_user[k])] if claimed[k] else None,
        }
        for k, i in enumerate(h.tolist())
    ]

    # Flow proposals.
    n_prop = max(8, round(n * 0.04))
    p_created = _sample_times(rng, n_prop, spec.timezone, start_s, end_s, trend=1.0)
    unc = domains.index(spec.uncovered_domain)
    pd_w = np.ones(len(domains))
    pd_w[unc] = len(domains) * 0.6
    p_dom = rng.choice(len(domains), size=n_prop, p=pd_w / pd_w.sum())
    p_dom[0] = unc  # the uncovered domain always has a proposal
    p_type = np.where((p_dom == unc) | (rng.random(n_prop) < 0.5), "new_flow", "enhancement")
    p_status = rng.choice(
        ["pending", "approved", "modified", "rejected", "dismissed"],
        size=n_prop,
        p=[0.18, 0.32, 0.15, 0.13, 0.22],
    ).astype(object)
    reviewed = p_created + np.clip(
        _lognormal(rng, 2.5 * _DAY_S, 0.9, n_prop), 1800, 40 * _DAY_S
    ).astype(np.int64)
    p_status[(p_status != "pending") & (reviewed >= end_s)] = "pending"
    prop_ids = _uuids(id_rng, n_prop)
    proposal_rows: Rows = [
        {
            "id": prop_ids[k],
            "account_id": acc.id,
            "status": str(p_status[k]),
            "proposal_type": str(p_type[k]),
            "problem_domain": domains[int(p_dom[k])],
            "created_at": _ts(p_created[k]),
            "reviewed_at": _ts(reviewed[k]) if p_status[k] != "pending" else None,
        }
        for k in range(n_prop)
    ]

    # PSA post logs.
    base_t = end.copy()
    base_t[h] = h_created
    psa_rows: Rows = []
    psa_spec = (
        ("ticket_note", 0.95, resolved | escalated),
        ("doc", 0.65, resolved),
        ("time_entry", 0.75, resolved | escalated),
    )
    for post_type, share, eligible in psa_spec:
        sel = np.flatnonzero(eligible & has_ticket & (rng.random(n) < share))
        m = len(sel)
        kind = rng.choice(4, size=m, p=[0.9, 0.06, 0.03, 0.01])
        retries = np.select(
            [kind == 0, kind == 1, kind == 2],
            [0, rng.integers(1, 4, size=m), 3],
            rng.integers(0, 3, size=m),
        )
        ok = kind <= 1
        posted = base_t[sel] + rng.integers(10, 300, size=m) + retries * rng.integers(60, 180, m)
        hours = np.clip(np.round(_lognormal(rng, 0.75, 0.6, m) * 4) / 4, 0.25, 3.0)
        ids = _uuids(id_rng, m)
        for k, i in enumerate(sel.tolist()):
            if posted[k] >= end_s:
                continue
            psa_rows.append(
                {
                    "id": ids[k],
                    "ai_session_id": ai_ids[i],
                    "post_type": post_type,
                    "status": "success" if ok[k] else "failed",
                    "retry_count": int(retries[k]),
                    "hours": float(hours[k]) if post_type == "time_entry" else None,
                    "posted_at": _ts(posted[k]),
                }
            )
    if psa_rows and not any(r["status"] == "success" and r["retry_count"] for r in psa_rows):
        psa_rows[0]["retry_count"] = 2
        psa_rows[0]["status"] = "success"
    psa_rows.sort(key=lambda r: (r["posted_at"], r["id"]))

    return {
        "ai_sessions": ai_rows,
        "ai_session_steps": step_rows,
        "session_handoffs": handoff_rows,
        "flow_proposals": proposal_rows,
        "psa_post_logs": psa_rows,
    }


# --------------------------------------------------------------------- public API


def generate(
    seed: int = 7, scale: float = 1.0, anchor: dt.datetime | dt.date | None = None
) -> dict[str, list[dict]]:
    """Generate the demo database as rows.

    Inputs: ``seed`` (int ≥ 0) drives every random draw; ``scale`` (> 0)
    multiplies session counts and everything proportional to them (ratings, AI
    sessions, …) — users and flows do not change, and each account keeps at
    least 150 sessions; ``anchor`` is the end of the data, exclusive (an aware
    datetime, a naive one taken as UTC, or a date meaning its 00:00 UTC; default
    today's 00:00 UTC). Data covers the :data:`DAYS` days before it.

    Output: ``{table name: [row dict keyed by column name, ...]}`` for every
    table of :data:`rfa.db.TABLES`, in that (insert) order. Ids are canonical
    UUID strings, timestamps aware UTC datetimes with whole seconds, JSON
    columns Python dicts/lists. Same inputs give equal output.

    Raises :class:`~rfa.errors.ParameterError` for a negative seed, a
    non-positive or non-finite scale, or an anchor of the wrong type.
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ParameterError("seed", seed, "an integer >= 0")
    if not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
        raise ParameterError("scale", scale, "a number > 0 (1.0 = full size)")
    seed = int(seed)
    end_s = _anchor_seconds(anchor)
    start_s = end_s - DAYS * _DAY_S
    out: dict[str, Rows] = {t.name: [] for t in TABLES}
    account_ids = _uuids(_rng(seed, 99, _S_IDS), len(DEMO_ACCOUNTS))
    used_names: set[str] = set()
    for a, spec in enumerate(DEMO_ACCOUNTS):
        out["accounts"].append(
            {"id": account_ids[a], "name": spec.name, "slug": spec.slug, "timezone": spec.timezone}
        )
        users, runners, weights, skill = _make_users(seed, a, spec, account_ids[a], used_names)
        flows, trees, difficulty, popularity = _make_flows(seed, a, spec, account_ids[a], start_s)
        acc = _Account(
            index=a,
            spec=spec,
            id=account_ids[a],
            user_ids=[u["id"] for u in users],
            runners=runners,
            runner_weights=weights,
            skill=skill,
            flow_ids=[f["id"] for f in flows],
            flow_names=[f.name for f in spec.flows],
            flow_domains=[f.domain for f in spec.flows],
            difficulty=difficulty,
            popularity=popularity,
            trees=trees,
        )
        n = _n_sessions(spec, scale)
        sess = _make_sessions(seed, acc, n, start_s, end_s)
        for row, usage in zip(flows, sess.pop("_usage"), strict=True):
            row["usage_count"] = usage["usage_count"]
        out["users"].extend(users)
        out["trees"].extend(flows)
        for name, rows in sess.items():
            out[name].extend(rows)
        for name, rows in _make_flowpilot(seed, acc, n, start_s, end_s).items():
            out[name].extend(rows)
    return out


def _chunks(rows: Sequence[dict], size: int) -> Iterator[Sequence[dict]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def load(url: str, data: Mapping[str, list[dict]], batch_size: int = 5000) -> dict[str, int]:
    """Insert generated rows into the empty ResolutionFlow schema at ``url``.

    Inputs: ``url`` a SQLAlchemy URL (``sqlite:///PATH`` or
    ``postgresql+psycopg://...``) whose tables already exist
    (:func:`rfa.db.init_db`); ``data`` as returned by :func:`generate` (tables
    may be missing; columns missing from a row are NULL); ``batch_size`` rows
    per executemany call on SQLite (PostgreSQL streams each table through one
    ``COPY``). Everything happens in one transaction: all rows or none.

    Output: ``{table name: rows inserted}`` for every table, in insert order.

    Raises :class:`~rfa.errors.ParameterError` for an unknown table name in
    ``data``, a non-positive ``batch_size`` or an unsupported backend;
    :class:`~rfa.errors.DatabaseUnavailable` when the database cannot be
    reached or lacks the tables; :class:`~rfa.errors.RFAError` when it already
    holds accounts.
    """
    names = {t.name for t in TABLES}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ParameterError("table", unknown[0], ", ".join(t.name for t in TABLES))
    if batch_size < 1:
        raise ParameterError("batch_size", batch_size, "an integer >= 1")
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ParameterError("url", mask_url(url), "sqlite:///PATH or postgresql+psycopg://...")
    engine = create_engine(url, read_only=False)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            missing = [t.name for t in TABLES if not inspector.has_table(t.name)]
            if missing:
                raise DatabaseUnavailable(
                    f"database {mask_url(url)} lacks table(s) {', '.join(missing)}; "
                    "create them first with `rfa db init --url URL`"
                )
            if conn.execute(sa.select(sa.func.count()).select_from(accounts)).scalar():
                raise RFAError(
                    f"database {mask_url(url)} already holds accounts; load the demo into "
                    "an empty schema (a new database, then `rfa db init`)"
                )
        if backend == "sqlite":
            _load_sqlite(engine, data, batch_size)
        else:
            _load_postgres(engine, data)
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot load into {mask_url(url)}: {type(exc.orig).__name__}"
        ) from exc
    finally:
        engine.dispose()
    return {t.name: len(data.get(t.name, [])) for t in TABLES}


def _load_sqlite(engine: sa.Engine, data: Mapping[str, list[dict]], batch_size: int) -> None:
    with engine.begin() as conn:
        for table in TABLES:
            rows = data.get(table.name) or []
            cols = [c.name for c in table.columns]
            for chunk in _chunks(rows, batch_size):
                conn.execute(table.insert(), [{c: r.get(c) for c in cols} for r in chunk])


def _pg_type(column: sa.Column) -> str:
    """The PostgreSQL type name psycopg's binary COPY needs for ``column``."""
    t = column.type
    if isinstance(t, sa.Uuid):
        return "uuid"
    if isinstance(t, sa.JSON):
        return "jsonb"
    if isinstance(t, sa.types.TypeDecorator) or isinstance(t, sa.DateTime):
        return "timestamptz"
    if isinstance(t, sa.Boolean):
        return "bool"
    if isinstance(t, sa.Integer):
        return "int4"
    if isinstance(t, sa.Float):
        return "float8"
    return "text"


def _load_postgres(engine: sa.Engine, data: Mapping[str, list[dict]]) -> None:
    """One binary ``COPY`` per table through psycopg 3, all in one transaction."""
    from psycopg import sql
    from psycopg.types.json import Jsonb

    def as_uuid(v: object) -> object:
        return None if v is None else uuid.UUID(str(v))

    def as_json(v: object) -> object:
        return None if v is None else Jsonb(v)

    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        with pg.cursor() as cur:
            for table in TABLES:
                rows = data.get(table.name) or []
                if not rows:
                    continue
                cols = [c.name for c in table.columns]
                types = [_pg_type(c) for c in table.columns]
                convert = [
                    as_uuid if t == "uuid" else as_json if t == "jsonb" else None for t in types
                ]
                plan = list(zip(cols, convert, strict=True))
                stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                    sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, cols))
                )
                with cur.copy(stmt) as copy:
                    copy.set_types(types)
                    for r in rows:
                        copy.write_row([r.get(c) if f is None else f(r.get(c)) for c, f in plan])
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


def run_demo(
    url: str, seed: int = 7, scale: float = 1.0, anchor: dt.datetime | dt.date | None = None
) -> dict[str, int]:
    """Generate the demo data (:func:`generate`) and load it into ``url`` (:func:`load`).

    The schema must exist and be empty. Returns ``{table name: rows inserted}``.
    Raises what :func:`generate` and :func:`load` raise.
    """
    return load(url, generate(seed=seed, scale=scale, anchor=anchor))

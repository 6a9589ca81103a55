"""Development seed: load clients/ and create the demo citizen (README gives its NIK)."""

from __future__ import annotations

from idp import config as config_mod

DEMO_NIK = "3374014101900001"
DEMO_PASSWORD = "Contoh-Sandi-Warga-2026"
DEMO_NAME = "Siti Aminah"
DEMO_BIRTHDATE = "1990-01-01"


def seed(app) -> str:
    from idp.identity import services as identity
    from idp.oidc import clients

    regs = clients.read_directory(config_mod.resolve_path(app.config["IDP"]["clients_dir"]))
    synced = clients.sync(regs, actor="demo")
    if identity.get_person_by_nik(DEMO_NIK) is None:
        identity.create_person(
            nik=DEMO_NIK, name=DEMO_NAME, birthdate=DEMO_BIRTHDATE, password=DEMO_PASSWORD,
            email="siti.aminah@contoh.go.id", phone_number="+6281234567890", gender="female",
            address={"locality": "Kota Semarang", "region": "Jawa Tengah", "country": "ID"}, actor="demo",
        )
    # The local population registry, so a newcomer can also try self-registration
    # (fictional citizens; README lists one).
    from pathlib import Path

    from idp.registry.local import import_csv

    summary = import_csv(Path(__file__).resolve().parent / "registry" / "demo.csv", source="demo", actor="demo")
    return (f"clients {', '.join(synced)}; citizen NIK {DEMO_NIK}; "
            f"registry {summary.inserted + summary.updated + summary.unchanged} demo records")

"""What Airflow 3's API server reads from a JWT, as the installed Airflow's configuration says it.

The gateway's own script (SPEC §20), run once at start with Airflow's interpreter: it prints one JSON
document with the auth manager's class, the audience and issuer Airflow validates, its JWT algorithm and,
for the simple auth manager, each user's role and teams from [core] simple_auth_manager_users. It prints
no secret and takes no argument.
"""

import json
import sys


def main():
    from airflow.configuration import conf

    try:
        from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager

        audience = BaseAuthManager._get_jwt_audience()
    except (ImportError, AttributeError):
        audience = conf.get("api_auth", "jwt_audience", fallback="apache-airflow")
    issuers = [i.strip() for i in (conf.get("api_auth", "jwt_issuer", fallback="") or "").split(",") if i.strip()]
    users = []
    for entry in (conf.get("core", "simple_auth_manager_users", fallback="") or "").split(","):
        parts = [p.strip() for p in entry.strip().split(":")]
        if len(parts) < 2 or not parts[0]:
            continue
        teams = parts[2].split("|") if len(parts) == 3 else None
        users.append({"name": parts[0], "role": parts[1], "teams": teams})
    json.dump(
        {
            "auth_manager": conf.get("core", "auth_manager", fallback=""),
            "audience": audience or "",
            "issuer": issuers[0] if issuers else "",
            "algorithm": (conf.get("api_auth", "jwt_algorithm", fallback="") or "").split(",")[0].strip(),
            "multi_team": conf.getboolean("core", "multi_team", fallback=False),
            "all_admins": conf.getboolean("core", "simple_auth_manager_all_admins", fallback=False),
            "users": users,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

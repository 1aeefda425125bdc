"""Load on megapi as a visitor makes it: log in at /auth/token, then read.

megapi's login is OAuth2's password form, whose `username` field megapi
looks up as the account's email. The account and the TLS check come from
the environment (the role's 0600 env file): LOCUST_API_EMAIL,
LOCUST_API_PASSWORD, LOCUST_TLS_VERIFY.
"""

import os

from locust import HttpUser, between, task


class ApiUser(HttpUser):
    wait_time = between(0.5, 2)

    def on_start(self):
        self.client.verify = os.environ.get("LOCUST_TLS_VERIFY", "true") == "true"
        response = self.client.post(
            "/auth/token",
            data={"username": os.environ["LOCUST_API_EMAIL"], "password": os.environ["LOCUST_API_PASSWORD"]},
            name="/auth/token",
        )
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    @task(2)
    def whoami(self):
        self.client.get("/auth/users/me")

    @task(2)
    def random_song(self):
        self.client.get("/music_library/random")

    @task(1)
    def artists(self):
        self.client.get("/music_library/artists")

"""Load on megapi as a visitor makes it: log in at /auth/token, then read.

The account and the TLS check come from the environment (the role's 0600
env file): LOCUST_API_USERNAME, LOCUST_API_PASSWORD, LOCUST_TLS_VERIFY.
"""

import os

from locust import HttpUser, between, task


class ApiUser(HttpUser):
    wait_time = between(0.5, 2)

    def on_start(self):
        self.client.verify = os.environ.get("LOCUST_TLS_VERIFY", "true") == "true"
        response = self.client.post(
            "/auth/token",
            data={"username": os.environ["LOCUST_API_USERNAME"], "password": os.environ["LOCUST_API_PASSWORD"]},
            name="/auth/token",
        )
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    @task(3)
    def whoami(self):
        self.client.get("/users/me")

    @task(1)
    def api_docs(self):
        self.client.get("/docs")

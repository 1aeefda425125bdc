"""Load on the API as the seeds' Locust did it: log in (by email), then read."""

from locust import HttpUser, between, task


class ApiUser(HttpUser):
    wait_time = between(0.1, 0.5)

    def on_start(self):
        response = self.client.post(
            "/auth/token",
            data={"username": "admin@music-sim.test", "password": "throwaway-admin-password"},
        )
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    @task
    def me(self):
        self.client.get("/auth/users/me", headers=self.headers)

"""A stand-in for megapi's run-time behaviour, for the infrastructure tests.

What it shares with megapi (Hatchi-Kin/megapi), so the app role's compose
file and env file work unchanged:
- `python app.py` serves uvicorn on 0.0.0.0:8000;
- settings from the environment: DATABASE_URL, PG_USER, PG_EMAIL,
  PG_PASSWORD, SECRET_KEY, ALGORITHM, ACCESS_TOKEN_EXPIRE_MINUTES,
  MINIO_ENDPOINT (host:port), MINIO_ACCESS_KEY, MINIO_SECRET_KEY,
  MINIO_BUCKET_NAME;
- creates its tables and a first admin (PG_USER/PG_EMAIL/PG_PASSWORD) at start;
  its library table (POSTGRE_MUSIC_TABLE) gets three fixture tracks, so a
  reader of the library data has rows to read;
- POST /auth/token (form: username, password) returns a bearer token;
- /metrics (prometheus-fastapi-instrumentator, no auth) and /docs.
What it adds, so tests can see real state: GET /users/me, and
PUT/GET /fixture/objects/{key}, which store and read objects in
MINIO_BUCKET_NAME.
"""

import contextlib
import datetime
import hashlib
import hmac
import io
import os
import secrets

import jwt
import psycopg
import uvicorn
from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.security import OAuth2PasswordBearer
from minio import Minio
from minio.error import S3Error
from prometheus_fastapi_instrumentator import Instrumentator

SETTINGS = {
    name: os.environ[name]
    for name in ("DATABASE_URL", "PG_USER", "PG_EMAIL", "PG_PASSWORD", "SECRET_KEY",
                 "MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY",
                 "MINIO_BUCKET_NAME", "POSTGRE_MUSIC_TABLE")
}
FIXTURE_TRACKS = [
    ("fixture/01.mp3", "Blue in Green", "Miles Davis", "Kind of Blue", "Jazz", 1959),
    ("fixture/02.mp3", "Teardrop", "Massive Attack", "Mezzanine", "Trip Hop", 1998),
    ("fixture/03.mp3", "Hyperballad", "Bjork", "Post", "Electronic", 1995),
]
ALGORITHM = os.environ.get("ALGORITHM", "HS256")
TOKEN_MINUTES = int(os.environ.get("ACCESS_TOKEN_EXPIRE_MINUTES", "30"))

oauth2 = OAuth2PasswordBearer(tokenUrl="/auth/token")


def password_hash(password, salt=None):
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 100_000)
    return f"{salt}${digest.hex()}"


def password_ok(password, stored):
    salt = stored.split("$", 1)[0]
    return hmac.compare_digest(password_hash(password, salt), stored)


def database():
    return psycopg.connect(SETTINGS["DATABASE_URL"], autocommit=True)


def s3():
    # As megapi: the MinIO client, endpoint as host:port, plain HTTP inside
    # the stack's network.
    return Minio(SETTINGS["MINIO_ENDPOINT"], access_key=SETTINGS["MINIO_ACCESS_KEY"],
                 secret_key=SETTINGS["MINIO_SECRET_KEY"], secure=False)


def create_tables_and_admin():
    with database() as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS users ("
            " id SERIAL PRIMARY KEY, username TEXT UNIQUE NOT NULL,"
            " email TEXT NOT NULL, hashed_password TEXT NOT NULL,"
            " is_admin BOOLEAN NOT NULL DEFAULT FALSE)"
        )
        conn.execute(
            "INSERT INTO users (username, email, hashed_password, is_admin)"
            " VALUES (%s, %s, %s, TRUE) ON CONFLICT (username) DO NOTHING",
            (SETTINGS["PG_USER"], SETTINGS["PG_EMAIL"], password_hash(SETTINGS["PG_PASSWORD"])),
        )
        table = SETTINGS["POSTGRE_MUSIC_TABLE"]
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " id SERIAL PRIMARY KEY, filename TEXT UNIQUE NOT NULL, title TEXT,"
            " artist TEXT, album TEXT, genre TEXT, year INTEGER)"
        )
        for track in FIXTURE_TRACKS:
            conn.execute(
                f"INSERT INTO {table} (filename, title, artist, album, genre, year)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (filename) DO NOTHING",
                track,
            )


@contextlib.asynccontextmanager
async def lifespan(_app):
    create_tables_and_admin()
    yield


app = FastAPI(title="megapi (test fixture)", lifespan=lifespan)
Instrumentator().instrument(app).expose(app)


@app.get("/")
def root():
    return {"message": "megapi test fixture"}


@app.post("/auth/token")
def login(username: str = Form(...), password: str = Form(...)):
    with database() as conn:
        row = conn.execute(
            "SELECT hashed_password FROM users WHERE username = %s", (username,)
        ).fetchone()
    if row is None or not password_ok(password, row[0]):
        raise HTTPException(status_code=401, detail="Incorrect username or password")
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=TOKEN_MINUTES)
    token = jwt.encode({"sub": username, "exp": expires}, SETTINGS["SECRET_KEY"], algorithm=ALGORITHM)
    return {"access_token": token, "token_type": "bearer"}


def current_user(token: str = Depends(oauth2)):
    try:
        claims = jwt.decode(token, SETTINGS["SECRET_KEY"], algorithms=[ALGORITHM])
    except jwt.PyJWTError as error:
        raise HTTPException(status_code=401, detail="Could not validate credentials") from error
    with database() as conn:
        row = conn.execute(
            "SELECT username, email, is_admin FROM users WHERE username = %s", (claims["sub"],)
        ).fetchone()
    if row is None:
        raise HTTPException(status_code=401, detail="Could not validate credentials")
    return {"username": row[0], "email": row[1], "is_admin": row[2]}


@app.get("/users/me")
def me(user: dict = Depends(current_user)):
    return user


@app.put("/fixture/objects/{key}")
async def put_object(key: str, request: Request, _user: dict = Depends(current_user)):
    body = await request.body()
    s3().put_object(SETTINGS["MINIO_BUCKET_NAME"], key, io.BytesIO(body), len(body))
    return {"bucket": SETTINGS["MINIO_BUCKET_NAME"], "key": key}


@app.get("/fixture/objects/{key}")
def get_object(key: str, _user: dict = Depends(current_user)):
    try:
        body = s3().get_object(SETTINGS["MINIO_BUCKET_NAME"], key).read()
    except S3Error as error:
        if error.code != "NoSuchKey":
            raise
        raise HTTPException(status_code=404, detail="No such object") from error
    return Response(content=body, media_type="application/octet-stream")


if __name__ == "__main__":
    # As megapi: host and port are fixed here.
    uvicorn.run(app, host="0.0.0.0", port=8000)

from pathlib import Path

from fastapi import FastAPI
from flask import Flask

app = FastAPI()
web = Flask(__name__)


@app.get("/config")
async def config():
    with open("config.json") as handle:  # expect: sync-file-io-in-handler
        return handle.read()


@web.route("/readme")
def readme():
    return Path("README.md").read_text()  # expect: sync-file-io-in-handler


def not_a_route():
    with open("config.json") as handle:
        return handle.read()


@app.get("/health")
async def health():
    return {"ok": True}

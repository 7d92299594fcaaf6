"""A minimal Flask web app: the one most container tutorials start from."""

import os
import socket

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/")
def index():
    return f"Hello from Flask on {socket.gethostname()}!\n"


@app.route("/health")
def health():
    return jsonify(status="ok", version=os.environ.get("APP_VERSION", "dev"))

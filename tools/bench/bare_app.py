"""The load benchmark's reference: a bare Flask app answering a constant JSON on the same route."""

from flask import Flask, jsonify

app = Flask(__name__)
BODY = {
    "user_id": "u",
    "model_version": "v",
    "source": "personalized",
    "items": [{"item_id": f"I{k:06d}", "score": 1.0, "title": "Title", "category": "c"} for k in range(10)],
}


@app.get("/v1/users/<path:user_id>/recommendations")
def recommendations(user_id: str):
    return jsonify(BODY)


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})

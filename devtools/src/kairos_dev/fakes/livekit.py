"""A local LiveKit server for `make dev` and the tests: LiveKit's server API, not its media.

It speaks what the real `livekit-api` SDK speaks: Twirp over HTTP,
`POST /twirp/livekit.RoomService/<Method>` and `POST /twirp/livekit.Egress/<Method>`,
with protobuf (`application/protobuf`, what the SDK sends) or JSON bodies, answered in
the same encoding, errors as Twirp's JSON `{code, msg}`. Every call carries an access
token signed with the API secret, and its grants are enforced as LiveKit does:
`roomCreate` to create or delete rooms, `roomList` to list them, `roomAdmin` for that
room to see or remove its participants, `roomRecord` for egress.

WebRTC is not here: browsers (livekit-client) need a real LiveKit server. Instead a
control surface under `/fake/` makes participants join (with a join token, which is
verified: `roomJoin` for that room) and leave, finishes recordings, and shows the
webhooks sent. Each state change sends the webhook LiveKit would (`room_started`,
`participant_joined`, `participant_left`, `room_finished`, `egress_started`,
`egress_ended`) to every URL in LIVEKIT_WEBHOOK_URLS, signed as LiveKit's
WebhookReceiver expects: `Authorization: <JWT by the API key, sha256 = base64 of the
body's SHA-256>`. A control call may ask for its webhooks not to be delivered
(`"deliver": false`), to stand for one LiveKit lost.

Rooms finish as at LiveKit: empty for their empty timeout (nobody came) or their
departure timeout (everybody left), checked at every call.

Run: `LIVEKIT_API_KEY=… LIVEKIT_API_SECRET=… uvicorn kairos_dev.fakes.livekit:app`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import jwt
from google.protobuf.json_format import MessageToJson, Parse
from google.protobuf.message import Message
from livekit.api import AccessToken, TokenVerifier
from livekit.api.access_token import Claims, VideoGrants
from livekit.protocol import egress as egress_pb
from livekit.protocol import models
from livekit.protocol import room as room_pb
from livekit.protocol.webhook import WebhookEvent
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

T = TypeVar("T")
PROTOBUF = "application/protobuf"
TWIRP_STATUS = {
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "invalid_argument": 400,
    "resource_exhausted": 429,
    "bad_route": 404,
    "malformed": 400,
}


class TwirpError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


@dataclass
class SentWebhook:
    body: str
    authorization: str
    event: str
    delivered: bool


@dataclass
class FakeLiveKit:
    """The server's state: rooms, their participants, egresses, and the webhooks sent."""

    api_key: str
    api_secret: str
    webhook_urls: list[str] = field(default_factory=list)
    rooms: dict[str, models.Room] = field(default_factory=dict)
    participants: dict[str, dict[str, models.ParticipantInfo]] = field(default_factory=dict)
    egresses: dict[str, egress_pb.EgressInfo] = field(default_factory=dict)
    sent: list[SentWebhook] = field(default_factory=list)
    outbox: list[SentWebhook] = field(default_factory=list)
    # room → when it last became empty (its creation, or its last participant leaving)
    emptied_at: dict[str, float] = field(default_factory=dict)
    visited: set[str] = field(default_factory=set)  # rooms someone joined
    clock: Callable[[], float] = time.time
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- authorisation -------------------------------------------------------------

    def grants(self, authorization: str | None) -> VideoGrants:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise TwirpError("unauthenticated", "no access token")
        try:
            claims: Claims = TokenVerifier(self.api_key, self.api_secret).verify(token)
        except (jwt.PyJWTError, ValueError) as exc:
            raise TwirpError("unauthenticated", f"invalid access token: {exc}") from exc
        return claims.video or VideoGrants()

    @staticmethod
    def require(ok: bool | None, grant: str) -> None:
        if not ok:
            raise TwirpError("permission_denied", f"requires {grant} grant")

    # --- RoomService ---------------------------------------------------------------

    def create_room(self, g: VideoGrants, req: room_pb.CreateRoomRequest) -> models.Room:
        self.require(g.room_create, "roomCreate")
        if not req.name:
            raise TwirpError("invalid_argument", "room name is required")
        if req.name not in self.rooms:
            now = int(time.time())
            self.rooms[req.name] = models.Room(
                sid=f"RM_{uuid.uuid4().hex[:12]}",
                name=req.name,
                empty_timeout=req.empty_timeout or 300,
                departure_timeout=req.departure_timeout or 20,
                max_participants=req.max_participants,
                metadata=req.metadata,
                creation_time=now,
                creation_time_ms=now * 1000,
            )
            self.participants[req.name] = {}
            self.emptied_at[req.name] = self.clock()
            self.webhook("room_started", room=self.rooms[req.name])
        return self.rooms[req.name]

    def list_rooms(
        self, g: VideoGrants, req: room_pb.ListRoomsRequest
    ) -> room_pb.ListRoomsResponse:
        self.require(g.room_list, "roomList")
        names = set(req.names)
        rooms = [r for name, r in self.rooms.items() if not names or name in names]
        for r in rooms:
            r.num_participants = len(self.participants[r.name])
        return room_pb.ListRoomsResponse(rooms=rooms)

    def delete_room(
        self, g: VideoGrants, req: room_pb.DeleteRoomRequest
    ) -> room_pb.DeleteRoomResponse:
        self.require(g.room_create, "roomCreate")
        if req.room not in self.rooms:
            raise TwirpError("not_found", "requested room does not exist")
        self.finish_room(req.room)
        return room_pb.DeleteRoomResponse()

    def list_participants(
        self, g: VideoGrants, req: room_pb.ListParticipantsRequest
    ) -> room_pb.ListParticipantsResponse:
        self.require_admin(g, req.room)
        return room_pb.ListParticipantsResponse(
            participants=list(self.participants.get(req.room, {}).values())
        )

    def get_participant(
        self, g: VideoGrants, req: room_pb.RoomParticipantIdentity
    ) -> models.ParticipantInfo:
        self.require_admin(g, req.room)
        found = self.participants.get(req.room, {}).get(req.identity)
        if found is None:
            raise TwirpError("not_found", "participant not found")
        return found

    def remove_participant(
        self, g: VideoGrants, req: room_pb.RoomParticipantIdentity
    ) -> room_pb.RemoveParticipantResponse:
        self.require_admin(g, req.room)
        if req.identity not in self.participants.get(req.room, {}):
            raise TwirpError("not_found", "participant not found")
        self.leave(req.room, req.identity)
        return room_pb.RemoveParticipantResponse()

    def require_admin(self, g: VideoGrants, room: str) -> None:
        self.require(g.room_admin and g.room == room, f"roomAdmin for room {room!r}")

    # --- Egress --------------------------------------------------------------------

    def start_room_composite(
        self, g: VideoGrants, req: egress_pb.RoomCompositeEgressRequest
    ) -> egress_pb.EgressInfo:
        self.require(g.room_record, "roomRecord")
        if req.room_name not in self.rooms:
            raise TwirpError("not_found", "requested room does not exist")
        info = egress_pb.EgressInfo(
            egress_id=f"EG_{uuid.uuid4().hex[:12]}",
            room_id=self.rooms[req.room_name].sid,
            room_name=req.room_name,
            status=egress_pb.EgressStatus.EGRESS_ACTIVE,
            started_at=time.time_ns(),
            room_composite=req,
        )
        self.egresses[info.egress_id] = info
        self.webhook("egress_started", egress_info=info)
        return info

    def list_egress(
        self, g: VideoGrants, req: egress_pb.ListEgressRequest
    ) -> egress_pb.ListEgressResponse:
        self.require(g.room_record, "roomRecord")
        found = [
            e
            for e in self.egresses.values()
            if (not req.room_name or e.room_name == req.room_name)
            and (not req.egress_id or e.egress_id == req.egress_id)
            and (not req.active or e.status == egress_pb.EgressStatus.EGRESS_ACTIVE)
        ]
        return egress_pb.ListEgressResponse(items=found)

    def stop_egress(self, g: VideoGrants, req: egress_pb.StopEgressRequest) -> egress_pb.EgressInfo:
        self.require(g.room_record, "roomRecord")
        if req.egress_id not in self.egresses:
            raise TwirpError("not_found", "egress not found")
        return self.end_egress(req.egress_id)

    def end_egress(self, egress_id: str, deliver: bool = True) -> egress_pb.EgressInfo:
        info = self.egresses[egress_id]
        if info.status == egress_pb.EgressStatus.EGRESS_ACTIVE:
            info.status = egress_pb.EgressStatus.EGRESS_COMPLETE
            info.ended_at = time.time_ns()
            duration = info.ended_at - info.started_at
            filepath = (
                info.room_composite.file_outputs[0].filepath
                if (info.room_composite.file_outputs)
                else f"{info.room_name}.mp4"
            )
            info.file_results.append(
                egress_pb.FileInfo(
                    filename=filepath,
                    started_at=info.started_at,
                    ended_at=info.ended_at,
                    duration=duration,
                    size=max(1, duration // 1000),  # a stand-in size, ~1 MB/s
                    location=f"s3://recordings/{filepath}",
                )
            )
            self.webhook("egress_ended", egress_info=info, deliver=deliver)
        return info

    # --- the control surface: what browsers would do at a real server ---------------

    def join(self, token: str, deliver: bool = True) -> models.ParticipantInfo:
        try:
            claims = TokenVerifier(self.api_key, self.api_secret).verify(token)
        except (jwt.PyJWTError, ValueError) as exc:
            raise TwirpError("unauthenticated", f"invalid join token: {exc}") from exc
        g = claims.video or VideoGrants()
        self.require(bool(g.room_join and g.room), "roomJoin")
        room = self.rooms.get(g.room)
        if room is None:
            raise TwirpError("not_found", "requested room does not exist")
        present = self.participants[g.room]
        if claims.identity in present:
            return present[claims.identity]
        if room.max_participants and len(present) >= room.max_participants:
            raise TwirpError("resource_exhausted", "room is full")
        info = models.ParticipantInfo(
            sid=f"PA_{uuid.uuid4().hex[:12]}",
            identity=claims.identity,
            name=claims.name,
            state=models.ParticipantInfo.State.ACTIVE,
            joined_at=int(time.time()),
            joined_at_ms=int(time.time() * 1000),
            permission=models.ParticipantPermission(
                can_publish=bool(g.can_publish),
                can_subscribe=bool(g.can_subscribe),
            ),
        )
        present[claims.identity] = info
        self.visited.add(g.room)
        self.webhook("participant_joined", room=room, participant=info, deliver=deliver)
        return info

    def leave(self, room_name: str, identity: str, deliver: bool = True) -> None:
        info = self.participants.get(room_name, {}).pop(identity, None)
        if info is not None:
            if not self.participants[room_name]:
                self.emptied_at[room_name] = self.clock()
            info.state = models.ParticipantInfo.State.DISCONNECTED
            self.webhook(
                "participant_left", room=self.rooms[room_name], participant=info, deliver=deliver
            )

    def expire_rooms(self) -> None:
        """Finish the rooms LiveKit would have: empty for longer than their empty timeout
        (nobody ever came) or their departure timeout (everybody left). Run before every
        call, so time passes for the rooms as it does at LiveKit."""
        now = self.clock()
        for name, room in list(self.rooms.items()):
            if self.participants[name]:
                continue
            timeout = room.departure_timeout if name in self.visited else room.empty_timeout
            if now - self.emptied_at.get(name, now) >= timeout:
                self.finish_room(name)

    def finish_room(self, room_name: str, deliver: bool = True) -> None:
        for identity in list(self.participants.get(room_name, {})):
            self.leave(room_name, identity, deliver)
        for egress in list(self.egresses.values()):
            if egress.room_name == room_name:
                self.end_egress(egress.egress_id, deliver)
        room = self.rooms.pop(room_name, None)
        self.participants.pop(room_name, None)
        self.emptied_at.pop(room_name, None)
        self.visited.discard(room_name)
        if room is not None:
            self.webhook("room_finished", room=room, deliver=deliver)

    # --- webhooks --------------------------------------------------------------------

    def webhook(self, event: str, deliver: bool = True, **fields: Any) -> None:
        message = WebhookEvent(
            event=event, id=f"EV_{uuid.uuid4().hex[:12]}", created_at=int(time.time()), **fields
        )
        body = MessageToJson(message)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        token = AccessToken(self.api_key, self.api_secret).with_sha256(digest).to_jwt()
        sent = SentWebhook(body, token, event, deliver)
        self.sent.append(sent)
        if deliver:
            self.outbox.append(sent)

    def call(self, action: Callable[[], T]) -> T:
        """Run one state change, then deliver its webhooks, in order, outside the lock:
        before the call answers, so a test sees their effect at once. LiveKit does not
        retry a webhook, and neither does this."""
        with self.lock:
            self.expire_rooms()
            result = action()
            outbox, self.outbox = self.outbox, []
        for sent in outbox:
            for url in self.webhook_urls:
                with contextlib.suppress(httpx.HTTPError):
                    httpx.post(
                        url,
                        content=sent.body,
                        headers={
                            "Authorization": sent.authorization,
                            "Content-Type": "application/webhook+json",
                        },
                        timeout=10,
                    )
        return result


Handler = Callable[[FakeLiveKit, VideoGrants, Any], Message]

#: (service, method) → (request class, handler).
METHODS: dict[tuple[str, str], tuple[type[Message], Handler]] = {
    ("RoomService", "CreateRoom"): (room_pb.CreateRoomRequest, FakeLiveKit.create_room),
    ("RoomService", "ListRooms"): (room_pb.ListRoomsRequest, FakeLiveKit.list_rooms),
    ("RoomService", "DeleteRoom"): (room_pb.DeleteRoomRequest, FakeLiveKit.delete_room),
    ("RoomService", "ListParticipants"): (
        room_pb.ListParticipantsRequest,
        FakeLiveKit.list_participants,
    ),
    ("RoomService", "GetParticipant"): (
        room_pb.RoomParticipantIdentity,
        FakeLiveKit.get_participant,
    ),
    ("RoomService", "RemoveParticipant"): (
        room_pb.RoomParticipantIdentity,
        FakeLiveKit.remove_participant,
    ),
    ("Egress", "StartRoomCompositeEgress"): (
        egress_pb.RoomCompositeEgressRequest,
        FakeLiveKit.start_room_composite,
    ),
    ("Egress", "ListEgress"): (egress_pb.ListEgressRequest, FakeLiveKit.list_egress),
    ("Egress", "StopEgress"): (egress_pb.StopEgressRequest, FakeLiveKit.stop_egress),
}


def _twirp_error(exc: TwirpError) -> JSONResponse:
    return JSONResponse({"code": exc.code, "msg": exc.msg}, TWIRP_STATUS.get(exc.code, 500))


def create_app(server: FakeLiveKit) -> Starlette:
    async def twirp(request: Request) -> Response:
        known = METHODS.get((request.path_params["service"], request.path_params["method"]))
        if known is None:
            return _twirp_error(TwirpError("bad_route", f"no handler for {request.url.path}"))
        request_class, handler = known
        is_json = request.headers.get("content-type", "").startswith("application/json")
        raw = await request.body()
        try:
            message = (
                Parse(raw or b"{}", request_class()) if is_json else request_class.FromString(raw)
            )
        except Exception as exc:  # the body is the caller's mistake, whatever went wrong
            return _twirp_error(TwirpError("malformed", f"cannot decode the request: {exc}"))
        authorization = request.headers.get("authorization")
        try:
            answer = await run_in_threadpool(
                server.call, lambda: handler(server, server.grants(authorization), message)
            )
        except TwirpError as exc:
            return _twirp_error(exc)
        if is_json:
            return Response(MessageToJson(answer), media_type="application/json")
        return Response(answer.SerializeToString(), media_type=PROTOBUF)

    async def control(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        deliver = bool(body.get("deliver", True))
        action, room = request.path_params["action"], request.path_params.get("room", "")

        def act() -> dict[str, str]:
            if action == "join":
                info = server.join(str(body["token"]), deliver)
                return {"identity": info.identity, "sid": info.sid}
            if action == "leave":
                server.leave(room, str(body["identity"]), deliver)
            elif action == "finish":
                server.finish_room(room, deliver)
            elif action == "end-egress":
                server.end_egress(str(body["egress_id"]), deliver)
            else:
                raise TwirpError("bad_route", f"no control action {action!r}")
            return {}

        try:
            return JSONResponse(await run_in_threadpool(server.call, act))
        except TwirpError as exc:
            return _twirp_error(exc)

    async def webhooks(_: Request) -> Response:
        return JSONResponse(
            {
                "webhooks": [
                    {
                        "event": w.event,
                        "body": w.body,
                        "authorization": w.authorization,
                        "delivered": w.delivered,
                    }
                    for w in server.sent
                ]
            }
        )

    async def ready(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(_: Request) -> Response:
        lines = [
            f"fake_livekit_rooms {len(server.rooms)}",
            f"fake_livekit_participants {sum(map(len, server.participants.values()))}",
            f"fake_livekit_webhooks_sent_total {len(server.sent)}",
        ]
        return PlainTextResponse("\n".join(lines) + "\n")

    async def recording(request: Request) -> Response:
        # What RECORDINGS_BASE_URL serves in dev: egress's output has no media here.
        name = request.path_params["path"]
        return PlainTextResponse(f"the local LiveKit records no media: {name} stands in\n")

    return Starlette(
        routes=[
            Route("/twirp/livekit.{service}/{method}", twirp, methods=["POST"]),
            Route("/fake/{action}", control, methods=["POST"]),
            Route("/fake/rooms/{room}/{action}", control, methods=["POST"]),
            Route("/fake/webhooks", webhooks, methods=["GET"]),
            Route("/fake/recordings/{path:path}", recording, methods=["GET"]),
            Route("/healthz", ready),
            Route("/readyz", ready),
            Route("/metrics", metrics),
        ]
    )


def _from_environment() -> Starlette:
    server = FakeLiveKit(
        api_key=os.environ["LIVEKIT_API_KEY"],
        api_secret=os.environ["LIVEKIT_API_SECRET"],
        webhook_urls=[u for u in os.environ.get("LIVEKIT_WEBHOOK_URLS", "").split(",") if u],
    )
    return create_app(server)


def __getattr__(name: str) -> Any:
    # `uvicorn kairos_dev.fakes.livekit:app` builds the server from the environment on
    # first access, so importing the module (tests, the dev stack's checks) needs none.
    if name == "app":
        return _from_environment()
    raise AttributeError(name)

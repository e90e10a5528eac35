// The call itself: LiveKit's own components (camera, microphone, screen share and leave
// controls), in a chunk of its own that only the waiting room's "Enter room" loads.
import { LiveKitRoom, VideoConference } from "@livekit/components-react";
import "@livekit/components-styles";
import { useState } from "react";
import type { JoinGrant } from "../../api/client";
import { ErrorMessage } from "../../components/Status";
import { text } from "../../i18n/text";

export default function CallView({ grant, onLeave }: { grant: JoinGrant; onLeave: () => void }) {
  const [failure, setFailure] = useState<string | null>(null);
  return (
    <section className="call" aria-label={text.waiting.title} data-lk-theme="default">
      {failure ? (
        <ErrorMessage error={text.waiting.connectFailed(failure)}>
          <button type="button" onClick={onLeave}>
            {text.waiting.leave}
          </button>
        </ErrorMessage>
      ) : null}
      <LiveKitRoom
        serverUrl={grant.url}
        token={grant.token}
        connect
        video
        audio
        onDisconnected={onLeave}
        onError={(error) => setFailure(error.message)}
      >
        <VideoConference />
      </LiveKitRoom>
    </section>
  );
}

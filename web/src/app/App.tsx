import { Suspense } from "react";
import { Loading } from "../components/Status";
import { text } from "../i18n/text";
import { signOutAdmin, useAdminKey } from "../lib/adminSession";
import { signOut, useSession } from "../lib/session";
import { Link, match, navigate, useLocation } from "./router";
import { routes } from "./routes";

/** Top navigation entries; pages of other audiences add theirs here. */
export const navigation: { href: string; label: string }[] = [
  { href: "/", label: text.app.specialists },
];

/** What a signed-in specialist also finds there. */
export const specialistNavigation: { href: string; label: string }[] = [
  { href: "/dashboard", label: text.specialist.nav.dashboard },
  { href: "/history", label: text.specialist.nav.history },
  { href: "/schedule", label: text.specialist.nav.schedule },
  { href: "/services", label: text.specialist.nav.services },
  { href: "/calendars", label: text.specialist.nav.calendars },
];

/** What an admin signed in in this tab also finds there. */
export const adminNavigation: { href: string; label: string }[] = [
  { href: "/admin/teams", label: text.admin.nav.teams },
  { href: "/admin/webhooks", label: text.admin.nav.webhooks },
];

export function App() {
  const { pathname } = useLocation();
  const session = useSession();
  const admin = useAdminKey() !== null;
  const items = [
    ...navigation,
    ...(session === null ? [] : specialistNavigation),
    ...(admin ? adminNavigation : []),
  ];
  const page = match(routes, pathname);
  const embedded = pathname.startsWith("/embed/");
  const content = (
    <Suspense fallback={<Loading />}>
      {page ?? (
        <section>
          <h1>{text.app.notFound}</h1>
          <Link href="/">{text.app.backHome}</Link>
        </section>
      )}
    </Suspense>
  );
  if (embedded) return <main id="content">{content}</main>;
  return (
    <>
      <a className="skip" href="#content">
        {text.app.skipToContent}
      </a>
      <header className="top">
        <Link href="/" className="brand">
          {text.app.name}
        </Link>
        <nav aria-label={text.app.nav}>
          <ul>
            {items.map((item) => (
              <li key={item.href}>
                <Link href={item.href} aria-current={pathname === item.href ? "page" : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="session">
          {session === null ? (
            <Link href="/sign-in">{text.specialist.nav.signIn}</Link>
          ) : (
            <button
              type="button"
              onClick={() => {
                signOut();
                navigate("/sign-in");
              }}
            >
              {text.specialist.nav.signOut}
            </button>
          )}
          {admin ? (
            <button
              type="button"
              onClick={() => {
                signOutAdmin();
                navigate("/admin/sign-in");
              }}
            >
              {text.admin.nav.signOut}
            </button>
          ) : null}
        </div>
      </header>
      <main id="content" tabIndex={-1}>
        {content}
      </main>
    </>
  );
}

import { Suspense } from "react";
import { Loading } from "../components/Status";
import { text } from "../i18n/text";
import { Link, match, useLocation } from "./router";
import { routes } from "./routes";

/** Top navigation entries; pages of other audiences add theirs here. */
export const navigation: { href: string; label: string }[] = [
  { href: "/", label: text.app.specialists },
];

export function App() {
  const { pathname } = useLocation();
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
            {navigation.map((item) => (
              <li key={item.href}>
                <Link href={item.href} aria-current={pathname === item.href ? "page" : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="content" tabIndex={-1}>
        {content}
      </main>
    </>
  );
}

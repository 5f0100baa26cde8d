"""A FastAPI app serving the posts table through psycopg2, no ORM."""

from collections.abc import Iterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import Depends, FastAPI, HTTPException, Response, status
from pydantic import BaseModel, Field

import posts


class PostIn(BaseModel):
    title: str = Field(min_length=1)
    content: str
    published: bool = True


class PostOut(PostIn):
    id: int
    created_at: datetime


def setup_database() -> None:
    """Create the posts table (if needed) before the app serves its first request."""
    # Step 7: create the table once, when the app starts.
    conn = posts.connect()
    try:
        posts.create_table(conn)
    finally:
        conn.close()


@asynccontextmanager
async def lifespan(app: FastAPI):
    setup_database()
    yield


app = FastAPI(title="Posts (psycopg2)", lifespan=lifespan)


def get_conn() -> Iterator:
    """One connection per request, always closed afterwards."""
    # Step 7: open a connection, hand it to the route, close it.
    conn = posts.connect()
    try:
        yield conn
    finally:
        conn.close()


def found(row: dict | None) -> dict:
    if row is None:
        raise HTTPException(status_code=404, detail="Post not found")
    return row


@app.get("/posts", response_model=list[PostOut])
def list_posts(conn=Depends(get_conn)):
    # Step 8: return every post.
    return posts.list_posts(conn)


@app.post("/posts", response_model=PostOut, status_code=status.HTTP_201_CREATED)
def create_post(post: PostIn, conn=Depends(get_conn)):
    # Step 8: create the post and return it with status 201.
    return posts.create_post(conn, post.title, post.content, post.published)


@app.get("/posts/{post_id}", response_model=PostOut)
def get_post(post_id: int, conn=Depends(get_conn)):
    # Step 8: return the post, or 404.
    return found(posts.get_post(conn, post_id))


@app.put("/posts/{post_id}", response_model=PostOut)
def update_post(post_id: int, post: PostIn, conn=Depends(get_conn)):
    # Step 8: replace the post, or 404.
    return found(posts.update_post(conn, post_id, **post.model_dump()))


@app.delete("/posts/{post_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_post(post_id: int, conn=Depends(get_conn)):
    # Step 8: delete the post: 204 with no body, or 404.
    if not posts.delete_post(conn, post_id):
        raise HTTPException(status_code=404, detail="Post not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)

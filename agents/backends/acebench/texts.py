"""Messages the ACEBench simulated APIs return, in English and Chinese."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "zh"]

TEXTS: dict[str, tuple[str, str]] = {
    "wifi_on": ("Wi-Fi has been turned on.", "wifi已经打开。"),
    "logged_in": ("Device has been logged in.", "设备已经登录。"),
    "not_logged_in": ("Device not logged in; please log in first.", "设备未登录，请先登录。"),
    "no_wifi": ("Wi-Fi is off; please turn on Wi-Fi first.", "wifi未打开，请先打开wifi。"),
    "unknown_user": ("User {name} does not exist.", "用户{name}不存在。"),
    "inbox_full": (
        "Inbox capacity is full. You need to ask the user which message to delete.",
        "内存容量已满，需要询问用户删除哪条短信。",
    ),
    "message_sent": ("Message sent to {name}.", "短信成功发送给{name}。"),
    "no_message": ("Message ID {id} does not exist.", "短信ID {id} 不存在。"),
    "message_deleted": ("Message ID {id} has been deleted.", "短信ID {id} 已被删除。"),
    "no_messages": ("No messages found.", "没有找到短信。"),
    "reminders_full": ("Reminder capacity is full.", "提醒容量已满。"),
    "reminder_added": ("Reminder '{title}' has been added.", "提醒'{title}'已经添加。"),
    "no_reminder": ("Reminder {item} does not exist.", "提醒{item}不存在。"),
    "reminder_deleted": ("Reminder {item} has been deleted.", "提醒{item}已删除。"),
    "reminder_notified": ("Reminder {item} has been marked as notified.", "提醒{item}已标记为已通知。"),
    "bad_password": ("Incorrect password for user {name}.", "用户{name}的密码错误。"),
    "food_logged_in": ("User {name} has logged in to the food platform.", "{name}成功登录外卖平台。"),
    "food_not_logged_in": ("User {name} is not logged in to the food platform.", "用户{name}未登录外卖平台。"),
    "no_merchant": ("Merchant {name} does not exist.", "商家{name}不存在。"),
    "no_product": ("Product {name} is not on the menu of {merchant}.", "商品{name}不在{merchant}的菜单中。"),
    "bad_quantity": ("Quantity of {name} must be a positive integer.", "{name}的数量必须是正整数。"),
    "insufficient_balance": ("Insufficient balance.", "余额不足。"),
    "order_placed": ("Order placed; total {total} yuan.", "外卖订单成功下单，总价{total}元。"),
    "auth_failed": ("User authentication failed.", "用户认证失败。"),
    "no_flight": ("Flight {flight} does not exist.", "航班{flight}不存在。"),
    "no_seats": ("Flight {flight} has no seats left.", "航班{flight}没有剩余座位。"),
    "bad_cabin": ("Unknown cabin {cabin}.", "未知舱位{cabin}。"),
    "bad_payment": ("Unknown payment method {method}; use cash or bank.", "未知支付方式{method}，请使用cash或bank。"),
    "booked": ("Booking succeeded, reservation {id}; total {total}.", "预订成功，预订号{id}，总价{total}。"),
    "no_reservation": ("Reservation {id} does not exist.", "预订{id}不存在。"),
    "not_owner": ("Reservation {id} does not belong to user {user}.", "预订{id}不属于用户{user}。"),
    "modified": ("Reservation {id} has been modified; balance change {delta}.", "预订{id}已修改，余额变动{delta}。"),
    "cancelled": ("Reservation {id} has been cancelled; refund {refund}.", "预订{id}已取消，退款{refund}。"),
    "no_transfer": ("No transfer flights found.", "没有找到中转航班。"),
}


def text(language: str, key: str, **values: object) -> str:
    """The message ``key`` in ``language`` with ``values`` filled in."""
    english, chinese = TEXTS[key]
    template = chinese if language == "zh" else english
    return template.format(**values)
